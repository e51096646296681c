#include "proxy/cli/admin_client.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <cstdlib>
#include <ostream>

#include "core/http/url_port.hpp"
#include "proxy/net.hpp"

namespace spendgate::proxy {

namespace http = beast::http;

AdminClient::AdminClient(std::string base_url, std::string token)
    : base_url_(std::move(base_url)), token_(std::move(token)) {
  while (base_url_.ends_with('/')) base_url_.pop_back();
}

bool AdminClient::validUrl() const {
  auto url = boost::urls::parse_uri(base_url_);
  return url && url->scheme() == "http" && !url->host().empty() &&
         (!url->has_port() || core::urlPort(url->port()));
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

    // A path in the URL is a prefix (an admin API behind a gateway at /spendgate/, say): kept,
    // not dropped, so the request never reaches whatever answers at the gateway's root.
    std::string target(url->encoded_path());
    while (!target.empty() && target.back() == '/') target.pop_back();
    target += path;
    http::request<http::string_body> request{http::string_to_verb(method), target, 11};
    request.set(http::field::host, host + ":" + port);
    request.set(http::field::user_agent, "spendgate-cli");
    if (!token_.empty()) request.set(http::field::authorization, "Bearer " + token_);
    if (!body.empty()) {
      request.set(http::field::content_type, "application/json");
      request.body() = body;
    }
    request.prepare_payload();

    // Asynchronous operations, because a tcp_stream's deadline applies only to those: the
    // blocking connect/write/read ignored it, so an address that accepted and never answered
    // kept the command waiting for ever. One deadline covers connect, write and read.
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    beast::error_code failure;
    bool done = false;
    const auto finish = [&](beast::error_code ec) {
      failure = ec;
      done = true;
    };
    resolver.async_resolve(
        host, port, [&](beast::error_code resolve_ec, tcp::resolver::results_type found) {
          if (resolve_ec) return finish(resolve_ec);
          stream.expires_after(kAdminTimeout);
          stream.async_connect(found, [&](beast::error_code connect_ec, const tcp::endpoint&) {
            if (connect_ec) return finish(connect_ec);
            http::async_write(stream, request, [&](beast::error_code write_ec, std::size_t) {
              if (write_ec) return finish(write_ec);
              http::async_read(stream, buffer, response,
                               [&](beast::error_code read_ec, std::size_t) { finish(read_ec); });
            });
          });
        });
    // The resolver has no deadline of its own: bound the whole exchange as well.
    context.run_for(kAdminTimeout + std::chrono::seconds(1));
    if (!done || failure == beast::error::timeout) {
      error_ = "cannot reach the admin API at " + base_url_ + ": no answer within " +
               std::to_string(kAdminTimeout.count()) + " s";
      return std::nullopt;
    }
    if (failure) throw boost::system::system_error(failure);
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
