#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <iosfwd>
#include <optional>
#include <string>

namespace spendgate::proxy {

/** How long the command line waits for the admin API: connect, send and the whole answer. */
inline constexpr std::chrono::seconds kAdminTimeout{10};

/** A blocking HTTP client for the admin API, for the command line only. */
class AdminClient {
public:
  struct Reply {
    int status = 0;
    std::string body;
  };

  /**
   * @param base_url e.g. "http://127.0.0.1:8081"
   * @param token bearer token; empty sends none
   */
  AdminClient(std::string base_url, std::string token);

  /**
   * Sends one request; gives up after kAdminTimeout (an address that accepts and never answers
   * is an admin API that cannot be reached).
   * @return the reply, or nullopt when the admin API cannot be reached (error() says why)
   */
  std::optional<Reply> send(const std::string& method,
                            const std::string& path,
                            const std::string& body = {});

  /**
   * Sends one request and reads a JSON answer, reporting any failure on `err` the way every
   * command does (SPEC §1 exit codes).
   * @param json receives the parsed answer, `raw` its text
   * @return -1 on success, else the exit code: 1 when the URL is malformed or the API refused
   *         (4xx/5xx), 2 when it cannot be reached or its answer is not JSON
   */
  int callJson(const std::string& method,
               const std::string& path,
               const std::string& body,
               boost::json::value& json,
               std::string& raw,
               std::ostream& err);

  /** @return $SPENDGATE_ADMIN_TOKEN, or "" */
  static std::string tokenFromEnvironment();

  const std::string& error() const { return error_; }

private:
  /** @return whether the base URL is http://HOST[:PORT] */
  bool validUrl() const;
  std::string urlError() const;

  std::string base_url_;
  std::string token_;
  std::string error_;
};

}  // namespace spendgate::proxy
