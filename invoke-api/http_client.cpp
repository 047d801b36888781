#include "invoke-api/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "base/error.h"

namespace thaw::api {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

struct HttpClient::Impl {
  asio::io_context io;
  tcp::socket socket{io};
  boost::beast::flat_buffer buffer;
  std::string host;
};

HttpClient::HttpClient(const std::string& address, uint16_t port) : impl_(std::make_unique<Impl>()) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address, ec);
  if (ec) throw Error("HTTP client: '" + address + "' is not an IP address");
  impl_->socket.connect(tcp::endpoint(ip, port), ec);
  if (ec) throw Error("HTTP client: connect to " + address + ":" + std::to_string(port) + ": " + ec.message());
  impl_->socket.set_option(tcp::no_delay(true), ec);
  impl_->host = address + ":" + std::to_string(port);
}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::send(const HttpRequest& request) {
  http::request<http::string_body> req;
  req.version(11);
  req.method_string(request.method);
  req.target(request.target);
  req.set(http::field::host, impl_->host);
  for (const auto& [k, v] : request.headers) req.set(k, v);
  req.body() = request.body;
  req.prepare_payload();
  boost::system::error_code ec;
  http::write(impl_->socket, req, ec);
  if (ec) throw Error("HTTP client: sending " + request.method + " " + request.target + ": " + ec.message());
  http::response_parser<http::string_body> parser;
  parser.body_limit(256ull << 20);
  http::read(impl_->socket, impl_->buffer, parser, ec);
  if (ec) throw Error("HTTP client: reading the answer to " + request.method + " " + request.target + ": " + ec.message());
  auto res = parser.release();
  HttpResponse out;
  out.status = int(res.result_int());
  auto text = [](auto s) { return std::string(s.data(), s.size()); };
  for (const auto& f : res) out.headers.emplace_back(text(f.name_string()), text(f.value()));
  out.body = std::move(res.body());
  return out;
}

}  // namespace thaw::api
