#include "core/metering/usage_chunk_filter.hpp"

#include "core/usage/json_fields.hpp"

namespace spendgate::core {

namespace {

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Cheap pre-check before a full parse: does `"choices"` appear followed by `: [ ]`?
bool mentionsEmptyChoices(std::string_view data) {
  constexpr std::string_view kKey = "\"choices\"";
  for (auto at = data.find(kKey); at != std::string_view::npos; at = data.find(kKey, at + 1)) {
    std::size_t p = at + kKey.size();
    while (p < data.size() && isSpace(data[p])) ++p;
    if (p >= data.size() || data[p] != ':') continue;
    ++p;
    while (p < data.size() && isSpace(data[p])) ++p;
    if (p >= data.size() || data[p] != '[') continue;
    ++p;
    while (p < data.size() && isSpace(data[p])) ++p;
    if (p < data.size() && data[p] == ']') return true;
  }
  return false;
}

constexpr std::string_view kTrailingNullUsage = ",\"usage\":null";
constexpr std::string_view kLeadingNullUsage = "\"usage\":null,";
constexpr std::size_t kNullUsageSize = kTrailingNullUsage.size();  // both forms are this long
static_assert(kLeadingNullUsage.size() == kNullUsageSize);

// Where the chunk's `"usage":null` member starts in an event's raw bytes, looking only at its
// `data:` lines: an `id:`, `event:` or comment line may hold the same bytes and is relayed as is.
std::size_t nullUsageInDataLine(std::string_view raw) {
  constexpr std::string_view kData = "data:";
  std::size_t line = 0;
  while (line < raw.size()) {
    std::size_t end = raw.find_first_of("\r\n", line);
    if (end == std::string_view::npos) end = raw.size();
    const std::string_view text = raw.substr(line, end - line);
    if (text.substr(0, kData.size()) == kData) {
      for (const std::string_view form : {kTrailingNullUsage, kLeadingNullUsage}) {
        if (const auto at = text.find(form); at != std::string_view::npos) return line + at;
      }
    }
    line = end + 1;
  }
  return std::string_view::npos;
}

}  // namespace

UsageChunkFilter::UsageChunkFilter(std::size_t max_event_bytes) : parser_(max_event_bytes) {}

bool UsageChunkFilter::isUsageChunk(std::string_view data, JsonScratch& json) {
  if (data.find("\"usage\"") == std::string_view::npos || !mentionsEmptyChoices(data)) {
    return false;
  }
  const boost::json::value* doc = json.parse(data);
  const auto* root = doc != nullptr ? doc->if_object() : nullptr;
  const auto* choices = json_fields::arrayMember(root, "choices");
  return choices != nullptr && choices->empty() &&
         json_fields::objectMember(root, "usage") != nullptr;
}

char UsageChunkFilter::byteAt(std::uint64_t offset) const {
  return offset >= chunk_begin_ ? chunk_[static_cast<std::size_t>(offset - chunk_begin_)]
                                : held_[static_cast<std::size_t>(offset - held_begin_)];
}

void UsageChunkFilter::emitUpTo(std::uint64_t to) {
  if (skip_lf_at_ && *skip_lf_at_ == emitted_ && emitted_ < end_) {
    if (byteAt(emitted_) == '\n') ++emitted_;
    skip_lf_at_.reset();
  }
  if (to <= emitted_) return;
  if (emitted_ < chunk_begin_) {
    const std::uint64_t stop = to < chunk_begin_ ? to : chunk_begin_;
    out_->append(held_, static_cast<std::size_t>(emitted_ - held_begin_),
                 static_cast<std::size_t>(stop - emitted_));
    emitted_ = stop;
  }
  if (emitted_ < to) {
    out_->append(chunk_.substr(static_cast<std::size_t>(emitted_ - chunk_begin_),
                               static_cast<std::size_t>(to - emitted_)));
    emitted_ = to;
  }
}

void UsageChunkFilter::stripNullUsage(const SseEvent& event) {
  scratch_.clear();
  for (std::uint64_t at = event.raw_begin; at < event.raw_end; ++at) scratch_.push_back(byteAt(at));
  const std::size_t cut = nullUsageInDataLine(scratch_);
  if (cut == std::string::npos) return;
  emitUpTo(event.raw_begin + cut);
  emitted_ += kNullUsageSize;
}

void UsageChunkFilter::onEvent(const SseEvent& event) {
  if (!isUsageChunk(event.data, json_)) {
    // Kept; released at the end of feed(), minus the null usage member if present.
    if (event.data.find("\"usage\":null") != std::string_view::npos) stripNullUsage(event);
    return;
  }
  emitUpTo(event.raw_begin);
  emitted_ = event.raw_end;
  skip_lf_at_.reset();
  if (event.ends_with_cr) skip_lf_at_ = event.raw_end;
  ++dropped_events_;
}

void UsageChunkFilter::feed(std::string_view upstream_bytes, std::string& out) {
  out_ = &out;
  chunk_ = upstream_bytes;
  chunk_begin_ = parser_.offset();
  end_ = chunk_begin_ + upstream_bytes.size();
  Sink sink(*this);
  parser_.feed(upstream_bytes, sink);
  emitUpTo(parser_.settledOffset());

  // Keep the undecided tail [emitted_, end_) for the next call.
  if (emitted_ >= chunk_begin_) {
    held_.assign(chunk_.substr(static_cast<std::size_t>(emitted_ - chunk_begin_)));
  } else {
    held_.erase(0, static_cast<std::size_t>(emitted_ - held_begin_));
    held_.append(chunk_);
  }
  held_begin_ = emitted_;
  chunk_ = {};
  chunk_begin_ = end_;
  out_ = nullptr;
}

void UsageChunkFilter::finish(std::string& out) {
  out_ = &out;
  emitUpTo(end_);
  held_.clear();
  held_begin_ = emitted_;
  out_ = nullptr;
}

}  // namespace spendgate::core
