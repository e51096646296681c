#pragma once

#include <string>
#include <string_view>

namespace spendgate::core {

/**
 * A request path as the most lenient upstream or gateway in front of one reads it, for deciding
 * what a request calls (metering, routing); the request itself is forwarded as the client sent it.
 * Every `%XX` escape is decoded (hex in either case, again until none is left: a gateway may decode
 * once and its upstream again), repeated slashes are collapsed and `.` / `..` segments resolved
 * (RFC 3986 §5.2.4), in that order, as nginx does. A path with no `%`, no `//` and no `/.` is kept
 * as it is, without a copy.
 *
 * Invalid (valid() false, view() then the raw path): a `#` in the path, a `%` that starts no
 * escape, an escape that decodes to NUL, `?` or `#`, and a `..` that climbs above the root. No API
 * path has them, and each upstream reads them its own way, so the proxy refuses them.
 */
class CanonicalPath {
public:
  /** @param path a request path; a query part (from the first `?`) is cut off first. */
  explicit CanonicalPath(std::string_view path);

  /** @return whether the path reads the same for every upstream (see the class comment). */
  bool valid() const { return valid_; }
  /** @return whether the canonical form differs from the raw path (query cut off). */
  bool rewritten() const { return rewritten_; }
  /** @return the canonical path, or the raw one (query cut off) when unchanged or invalid. */
  std::string_view view() const { return rewritten_ ? std::string_view(text_) : raw_; }
  /** @return the path as sent, query cut off. */
  std::string_view raw() const { return raw_; }
  /** @return what makes the path invalid ("" when valid), for the caller's 400. */
  std::string_view problem() const { return problem_; }

private:
  void canonicalize();
  bool decodeAll();
  void collapseSlashes();
  bool resolveDotSegments();
  void fail(std::string_view problem);

  std::string_view raw_;
  std::string text_;
  std::string_view problem_;
  bool valid_ = true;
  bool rewritten_ = false;
};

}  // namespace spendgate::core
