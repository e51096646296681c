#include "proxy/cli/admin_client.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

#include "proxy/net.hpp"

namespace spendgate::proxy {

namespace http = beast::http;

AdminClient::AdminClient(std::string base_url, std::string token)
    : base_url_(std::move(base_url)), token_(std::move(token)) {}

std::optional<AdminClient::Reply> AdminClient::send(const std::string& method,
                                                    const std::string& path,
                                                    const std::string& body) {
  auto url = boost::urls::parse_uri(base_url_);
  if (!url || url->scheme() != "http" || url->host().empty()) {
    error_ = "admin URL must look like http://127.0.0.1:8081, got " + base_url_;
    return std::nullopt;
  }
  const std::string host = url->host_address();
  const std::string port = url->has_port() ? std::string(url->port()) : "80";
  try {
    net::io_context context;
    tcp::resolver resolver(context);
    beast::tcp_stream stream(context);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(resolver.resolve(host, port));

    http::request<http::string_body> request{http::string_to_verb(method), path, 11};
    request.set(http::field::host, host + ":" + port);
    request.set(http::field::user_agent, "spendgate-cli");
    if (!token_.empty()) request.set(http::field::authorization, "Bearer " + token_);
    if (!body.empty()) {
      request.set(http::field::content_type, "application/json");
      request.body() = body;
    }
    request.prepare_payload();
    http::write(stream, request);

    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    return Reply{static_cast<int>(response.result_int()), std::move(response.body())};
  } catch (const boost::system::system_error& e) {
    error_ = "cannot reach the admin API at " + base_url_ + ": " + e.code().message();
    return std::nullopt;
  } catch (const std::exception& e) {
    error_ = "cannot reach the admin API at " + base_url_ + ": " + e.what();
    return std::nullopt;
  }
}

}  // namespace spendgate::proxy
