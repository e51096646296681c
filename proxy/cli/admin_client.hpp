#pragma once

#include <optional>
#include <string>

namespace spendgate::proxy {

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
   * Sends one request with a 10 s timeout.
   * @return the reply, or nullopt when the admin API cannot be reached (error() says why)
   */
  std::optional<Reply> send(const std::string& method,
                            const std::string& path,
                            const std::string& body = {});

  const std::string& error() const { return error_; }

private:
  std::string base_url_;
  std::string token_;
  std::string error_;
};

}  // namespace spendgate::proxy
