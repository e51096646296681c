#include "proxy/admin/admin_server.hpp"

#include <openssl/crypto.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "proxy/logging/logger.hpp"

namespace spendgate::proxy {

namespace http = beast::http;

namespace {

// Compares in time that does not depend on where the strings differ.
bool tokenMatches(std::string_view header, const std::string& token) {
  constexpr std::string_view kBearer = "Bearer ";
  if (!header.starts_with(kBearer)) return false;
  header.remove_prefix(kBearer.size());
  if (header.size() != token.size()) return false;
  return CRYPTO_memcmp(header.data(), token.data(), token.size()) == 0;
}

http::response<http::string_body> jsonResponse(http::status status, std::string body) {
  http::response<http::string_body> response{status, 11};
  response.set(http::field::content_type, "application/json");
  response.body() = std::move(body);
  return response;
}

}  // namespace

AdminServer::AdminServer(net::io_context& context, Logger& logger, std::string token)
    : context_(context), acceptor_(context), logger_(logger), token_(std::move(token)) {}

tcp::endpoint AdminServer::listen(const tcp::endpoint& endpoint) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen();
  return acceptor_.local_endpoint();
}

void AdminServer::start() { net::co_spawn(context_, acceptLoop(), net::detached); }

void AdminServer::stop() {
  beast::error_code ignored;
  acceptor_.close(ignored);
  for (auto* socket : connections_) socket->close(ignored);
}

net::awaitable<void> AdminServer::acceptLoop() {
  while (acceptor_.is_open()) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_nothrow);
    if (ec) {
      if (!acceptor_.is_open()) co_return;
      continue;
    }
    net::co_spawn(context_, serve(std::move(socket)), net::detached);
  }
}

net::awaitable<void> AdminServer::serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  connections_.insert(&stream.socket());
  for (;;) {
    http::request<http::string_body> request;
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_read(stream, buffer, request, use_nothrow);
    if (ec) break;

    const std::string_view target = request.target();
    const std::string_view path = target.substr(0, target.find('?'));
    http::response<http::string_body> response;
    if (path == "/healthz") {
      response = {http::status::ok, 11};
      response.set(http::field::content_type, "text/plain");
      response.body() = "ok";
    } else if (!token_.empty() && !tokenMatches(request[http::field::authorization], token_)) {
      response =
          jsonResponse(http::status::unauthorized, R"({"error":"missing or wrong admin token"})");
      response.set(http::field::www_authenticate, "Bearer");
    } else if (path == "/readyz") {
      response = {http::status::ok, 11};
      response.set(http::field::content_type, "text/plain");
      response.body() = "ok";
    } else {
      response = jsonResponse(http::status::not_found, R"({"error":"no such admin route"})");
    }
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    stream.expires_after(std::chrono::seconds(30));
    auto [wec, written] = co_await http::async_write(stream, response, use_nothrow);
    if (wec || !response.keep_alive()) break;
  }
  connections_.erase(&stream.socket());
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace spendgate::proxy
