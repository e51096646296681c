#include "proxy/cli/admin_client.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <cstdlib>
#include <ostream>

#include "proxy/net.hpp"

namespace spendgate::proxy {

namespace http = beast::http;

AdminClient::AdminClient(std::string base_url, std::string token)
    : base_url_(std::move(base_url)), token_(std::move(token)) {
  while (base_url_.ends_with('/')) base_url_.pop_back();
}

bool AdminClient::validUrl() const {
  auto url = boost::urls::parse_uri(base_url_);
  return url && url->scheme() == "http" && !url->host().empty();
}

std::string AdminClient::urlError() const {
  return "admin URL must look like http://127.0.0.1:8081, got " + base_url_;
}

std::string AdminClient::tokenFromEnvironment() {
  const char* token = std::getenv("SPENDGATE_ADMIN_TOKEN");
  return token ? token : "";
}

int AdminClient::callJson(const std::string& method,
                          const std::string& path,
                          const std::string& body,
                          boost::json::value& json,
                          std::string& raw,
                          std::ostream& err) {
  // A malformed URL is the user's mistake (exit 1), not an unreachable admin API (exit 2).
  if (!validUrl()) {
    err << "spendgate: " << urlError() << "\n";
    return 1;
  }
  auto reply = send(method, path, body);
  if (!reply) {
    err << "spendgate: " << error_ << "\n";
    return 2;
  }
  boost::system::error_code ec;
  auto parsed = boost::json::parse(reply->body, ec);
  if (reply->status != 200) {
    std::string message = reply->body;
    if (!ec && parsed.is_object() && parsed.as_object().contains("error") &&
        parsed.at("error").is_string()) {
      message = std::string(parsed.at("error").as_string());
    }
    err << "spendgate: admin API answered " << reply->status << ": " << message << "\n";
    if (reply->status == 401) err << "  (set the admin token in $SPENDGATE_ADMIN_TOKEN)\n";
    if (reply->status == 404) {
      err << "  (is " << base_url_ << " a spendgate admin API of this version?)\n";
    }
    return 1;
  }
  if (ec) {
    err << "spendgate: unexpected admin API answer: " << reply->body << "\n";
    return 2;
  }
  json = std::move(parsed);
  raw = std::move(reply->body);
  return -1;
}

std::optional<AdminClient::Reply> AdminClient::send(const std::string& method,
                                                    const std::string& path,
                                                    const std::string& body) {
  if (!validUrl()) {
    error_ = urlError();
    return std::nullopt;
  }
  auto url = boost::urls::parse_uri(base_url_);
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
