#include "proxy/identity/caller_key.hpp"

#include <openssl/evp.h>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <unordered_map>

#include "core/identity/virtual_key_format.hpp"
#include "proxy/identity/query_key.hpp"

namespace spendgate::proxy {

namespace http = boost::beast::http;

namespace {

// Returns the value of the first `key` query parameter and its [begin, end) span in the target.
std::string_view queryKey(std::string_view target, std::size_t& begin, std::size_t& end) {
  std::string_view found;
  forEachQueryKey(target, [&](std::string_view value, std::size_t b, std::size_t e) {
    found = value;
    begin = b;
    end = e;
    return false;
  });
  return found;
}

bool isBlank(char c) { return c == ' ' || c == '\t'; }

// The credentials after `scheme` (without case) and 1*(SP / HTAB), blanks around them trimmed;
// "" for another scheme or none.
std::string_view schemeCredentials(std::string_view value, std::string_view scheme) {
  if (value.size() <= scheme.size() ||
      !boost::beast::iequals(value.substr(0, scheme.size()), scheme) ||
      !isBlank(value[scheme.size()])) {
    return {};
  }
  value.remove_prefix(scheme.size());
  while (!value.empty() && isBlank(value.front())) value.remove_prefix(1);
  while (!value.empty() && isBlank(value.back())) value.remove_suffix(1);
  return value;
}

std::string computeSha256Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(length * 2, '0');
  for (unsigned int i = 0; i < length; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return out;
}

}  // namespace

// "Bearer" 1*(SP / HTAB) token (RFC 9110 §11.4, scheme without case). Every blank between them
// goes: a virtual key sent as "Bearer  sk-sg-..." is still the virtual key, and must not pass.
std::string_view bearerToken(std::string_view authorization) {
  return schemeCredentials(authorization, "Bearer");
}

namespace {

// The credentials of an Authorization value in any scheme ("Bearer", "Basic", "Token" ...), or
// the whole value when it names no scheme: a virtual key must not ride out under another scheme.
std::string_view authorizationCredential(std::string_view value) {
  while (!value.empty() && isBlank(value.front())) value.remove_prefix(1);
  while (!value.empty() && isBlank(value.back())) value.remove_suffix(1);
  std::size_t blank = 0;
  while (blank < value.size() && !isBlank(value[blank])) ++blank;
  if (blank == value.size()) return value;
  value.remove_prefix(blank);
  while (!value.empty() && isBlank(value.front())) value.remove_prefix(1);
  return value;
}

bool isKeyHeaderName(std::string_view name) {
  return (name.size() == 9 && boost::beast::iequals(name, "x-api-key")) ||
         (name.size() == 14 && boost::beast::iequals(name, "x-goog-api-key")) ||
         (name.size() == 7 && boost::beast::iequals(name, "api-key"));
}

void assignQueryValue(std::string& to, std::string_view value) {
  if (value.find('%') == std::string_view::npos) {
    to.assign(value);
  } else {
    to = percentDecoded(value);
  }
}

// Sets key.value and key.location; the strings are assigned, so they keep their capacity.
template <class Fields>
void firstCallerKey(const Fields& headers, std::string_view target, CallerKey& key) {
  // One walk over the fields instead of four lookups in Beast's tree (each a case-insensitive
  // search). The first field of each name counts, as operator[] would return it.
  std::string_view authorization, x_api_key, x_goog_api_key, api_key;
  bool have_authorization = false, have_x_api_key = false, have_x_goog_api_key = false,
       have_api_key = false;
  for (const auto& field : headers) {
    if (field.name() == http::field::authorization) {
      if (!have_authorization) authorization = field.value();
      have_authorization = true;
      continue;
    }
    const std::string_view name = field.name_string();
    if (name.size() == 9 && !have_x_api_key && boost::beast::iequals(name, "x-api-key")) {
      x_api_key = field.value();
      have_x_api_key = true;
    } else if (name.size() == 14 && !have_x_goog_api_key &&
               boost::beast::iequals(name, "x-goog-api-key")) {
      x_goog_api_key = field.value();
      have_x_goog_api_key = true;
    } else if (name.size() == 7 && !have_api_key && boost::beast::iequals(name, "api-key")) {
      api_key = field.value();
      have_api_key = true;
    }
  }
  const auto found = [&key](std::string_view value, KeyLocation location) {
    key.value.assign(value);
    key.location = location;
  };
  if (auto token = bearerToken(authorization); !token.empty()) {
    return found(token, KeyLocation::AuthorizationBearer);
  }
  if (!x_api_key.empty()) return found(x_api_key, KeyLocation::XApiKey);
  if (!x_goog_api_key.empty()) return found(x_goog_api_key, KeyLocation::XGoogApiKey);
  if (!api_key.empty()) return found(api_key, KeyLocation::AzureApiKey);
  std::size_t begin = 0, end = 0;
  if (auto value = queryKey(target, begin, end); !value.empty()) {
    assignQueryValue(key.value, value);
    key.location = KeyLocation::QueryKey;
    return;
  }
  found({}, KeyLocation::None);
}

template <class Fields>
void findCallerKeyIn(const Fields& headers, std::string_view target, CallerKey& key) {
  firstCallerKey(headers, target, key);
  key.other_credentials.clear();
  // Every other place too, every field of each name: the caller decides on the whole set (a
  // virtual key beside a different credential is refused, not half-forwarded).
  auto note = [&key](std::string_view value) {
    if (value.empty() || value == key.value) return;
    for (const auto& other : key.other_credentials) {
      if (other == value) return;
    }
    key.other_credentials.emplace_back(value);
  };
  for (const auto& field : headers) {
    if (field.name() == http::field::authorization) {
      note(authorizationCredential(field.value()));
    } else if (field.name() == http::field::unknown && isKeyHeaderName(field.name_string())) {
      note(field.value());
    }
  }
  forEachQueryKey(target, [&note](std::string_view value, std::size_t, std::size_t) {
    if (value.find('%') == std::string_view::npos) {
      note(value);
    } else {
      note(percentDecoded(value));
    }
    return true;
  });
}

template <class Fields>
void injectProviderKeyIn(Fields& headers,
                         std::string& target,
                         core::ProviderFormat format,
                         std::string_view provider_key) {
  // Every place a key can ride goes, not just the one the virtual key was found in: a second
  // copy elsewhere must not leave the proxy either.
  headers.erase(http::field::authorization);
  headers.erase("x-api-key");
  headers.erase("x-goog-api-key");
  headers.erase("api-key");
  for (;;) {
    std::size_t begin = 0, end = 0;
    queryKey(target, begin, end);
    if (end == 0) break;  // no key= parameter left
    // Drop "key=…" and the separator next to it.
    if (end < target.size()) {
      target.erase(begin, end - begin + 1);
    } else {
      target.erase(begin - 1, end - begin + 1);
    }
  }
  if (provider_key.empty()) return;
  switch (format) {
    case core::ProviderFormat::OpenAI:
      headers.set(http::field::authorization, "Bearer " + std::string(provider_key));
      break;
    case core::ProviderFormat::Anthropic:
      headers.set("x-api-key", provider_key);
      break;
    case core::ProviderFormat::Gemini:
      headers.set("x-goog-api-key", provider_key);
      break;
    case core::ProviderFormat::Azure:
      headers.set("api-key", provider_key);
      break;
  }
}

}  // namespace

namespace {

bool holdsKeyShape(std::string_view text) {
  const std::size_t length = core::kVirtualKeyPrefix.size() + core::kVirtualKeyRandomLength;
  for (auto at = text.find(core::kVirtualKeyPrefix); at != std::string_view::npos;
       at = text.find(core::kVirtualKeyPrefix, at + 1)) {
    if (core::hasVirtualKeyFormat(text.substr(at, length))) return true;
  }
  return false;
}

bool holdsKeyShapeDecoded(std::string_view text) {
  return text.find('%') == std::string_view::npos ? holdsKeyShape(text)
                                                  : holdsKeyShape(percentDecoded(text));
}

// The credentials of "Basic <base64>", decoded ("" for another scheme or bad base64).
std::string basicCredentials(std::string_view authorization) {
  const std::string_view value = schemeCredentials(authorization, "Basic");
  if (value.empty() || value.size() % 4 != 0 || value.size() > 4096) return {};
  std::string out(value.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(value.data()),
                                static_cast<int>(value.size()));
  if (n < 0) return {};
  out.resize(static_cast<std::size_t>(n));
  return out;
}

template <class Fields>
bool carriesKeyOutsideKeyPlacesIn(const Fields& headers, std::string_view target) {
  for (const auto& field : headers) {
    if (field.name() == http::field::authorization) {
      // Bearer and other schemes are read by findCallerKey; Basic hides its credentials.
      if (holdsKeyShape(basicCredentials(field.value()))) return true;
    } else if (!(field.name() == http::field::unknown && isKeyHeaderName(field.name_string())) &&
               holdsKeyShape(field.value())) {
      return true;
    }
  }
  if (holdsKeyShapeDecoded(target.substr(0, target.find('?')))) return true;
  bool found = false;
  forEachQueryParameter(target, [&found](std::string_view param, std::size_t, std::size_t) {
    // A key= parameter is findCallerKey's (and refused, or stripped, there).
    const auto eq = param.find('=');
    const bool key_param = eq != std::string_view::npos && isKeyParameterName(param.substr(0, eq));
    found = !key_param && holdsKeyShapeDecoded(param);
    return !found;
  });
  return found;
}

}  // namespace

bool carriesKeyOutsideKeyPlaces(const http::fields& headers, std::string_view target) {
  return carriesKeyOutsideKeyPlacesIn(headers, target);
}

bool carriesKeyOutsideKeyPlaces(const FlatFields& headers, std::string_view target) {
  return carriesKeyOutsideKeyPlacesIn(headers, target);
}

CallerKey findCallerKey(const http::fields& headers, std::string_view target) {
  CallerKey key;
  findCallerKeyIn(headers, target, key);
  return key;
}

CallerKey findCallerKey(const FlatFields& headers, std::string_view target) {
  CallerKey key;
  findCallerKeyIn(headers, target, key);
  return key;
}

void findCallerKey(const FlatFields& headers, std::string_view target, CallerKey& into) {
  findCallerKeyIn(headers, target, into);
}

std::string sha256Hex(std::string_view text) {
  // Callers send the same few keys over and over; OpenSSL 3 makes each digest costly (provider
  // lookup), so each thread remembers the last keys it hashed.
  struct Hash {
    using is_transparent = void;  // looked up by string_view: no copy of the key to find it
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  thread_local std::unordered_map<std::string, std::string, Hash, std::equal_to<>> cache;
  if (auto found = cache.find(text); found != cache.end()) return found->second;
  if (cache.size() >= 4096) cache.clear();
  std::string hex = computeSha256Hex(text);
  cache.emplace(std::string(text), hex);
  return hex;
}

void injectProviderKey(http::fields& headers,
                       std::string& target,
                       const CallerKey&,
                       core::ProviderFormat format,
                       std::string_view provider_key) {
  injectProviderKeyIn(headers, target, format, provider_key);
}

void injectProviderKey(FlatFields& headers,
                       std::string& target,
                       const CallerKey&,
                       core::ProviderFormat format,
                       std::string_view provider_key) {
  injectProviderKeyIn(headers, target, format, provider_key);
}

}  // namespace spendgate::proxy
