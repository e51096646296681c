#include "core/http/http_date.hpp"

namespace spendgate::core {

namespace {

void appendTwoDigits(std::string& out, unsigned value) {
  out += static_cast<char>('0' + value / 10 % 10);
  out += static_cast<char>('0' + value % 10);
}

}  // namespace

std::string formatHttpDate(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  static constexpr std::string_view kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto seconds = floor<std::chrono::seconds>(time);
  const auto day = floor<days>(seconds);
  const year_month_day date{day};
  const hh_mm_ss clock{seconds - day};
  std::string out;
  out.reserve(29);
  out += kDays[weekday{day}.c_encoding()];
  out += ", ";
  appendTwoDigits(out, static_cast<unsigned>(date.day()));
  out += ' ';
  out += kMonths[static_cast<unsigned>(date.month()) - 1];
  out += ' ';
  out += std::to_string(static_cast<int>(date.year()));
  out += ' ';
  appendTwoDigits(out, static_cast<unsigned>(clock.hours().count()));
  out += ':';
  appendTwoDigits(out, static_cast<unsigned>(clock.minutes().count()));
  out += ':';
  appendTwoDigits(out, static_cast<unsigned>(clock.seconds().count()));
  out += " GMT";
  return out;
}

std::string_view HttpDateCache::at(std::chrono::system_clock::time_point now) {
  const std::int64_t second =
      std::chrono::floor<std::chrono::seconds>(now).time_since_epoch().count();
  if (second != second_) {
    second_ = second;
    text_ = formatHttpDate(now);
  }
  return text_;
}

}  // namespace spendgate::core
