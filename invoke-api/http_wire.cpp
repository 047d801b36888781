#include "invoke-api/http_wire.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/ostream.hpp>
#include <nlohmann/json.hpp>

#include "invoke-api/api_error.h"
#include "invoke-api/beast_http.h"

namespace thaw::api {

namespace beast_http {

void apply_limits(Parser& parser, const HttpLimits& limits) {
  parser.header_limit(limits.header_bytes);
  parser.body_limit(limits.body_bytes);
}

HttpRequest from_beast(Request&& request) {
  HttpRequest r;
  auto sv = [](auto s) { return std::string(s.data(), s.size()); };
  r.method = sv(request.method_string());
  r.target = sv(request.target());
  for (const auto& field : request) r.headers.emplace_back(sv(field.name_string()), sv(field.value()));
  r.body = std::move(request.body());
  return r;
}

Response to_beast(HttpResponse&& response, bool keep_alive) {
  Response r;
  r.version(11);
  r.result(unsigned(response.status));
  r.set(http::field::server, "thaw");
  for (auto& [k, v] : response.headers) r.set(boost::beast::string_view(k.data(), k.size()), v);
  r.body() = std::move(response.body);
  r.keep_alive(keep_alive);
  r.prepare_payload();
  return r;
}

HttpParseError parse_error_of(const boost::system::error_code& ec) {
  if (ec == http::error::body_limit) return {413, "the request body is larger than thaw serve takes (72 MiB)"};
  if (ec == http::error::header_limit) return {431, "the request's headers are larger than 16 KiB"};
  return {400, "malformed HTTP request: " + ec.message()};
}

}  // namespace beast_http

HttpParse parse_http_request(std::string_view wire, const HttpLimits& limits) {
  beast_http::Parser parser;
  beast_http::apply_limits(parser, limits);
  parser.eager(true);
  HttpParse out;
  boost::system::error_code ec;
  size_t used = 0;
  while (!parser.is_done() && used < wire.size()) {
    size_t n = parser.put(boost::asio::buffer(wire.data() + used, wire.size() - used), ec);
    if (ec == beast_http::http::error::need_more) break;
    if (ec) {
      out.error = beast_http::parse_error_of(ec);
      out.keep_alive = false;
      return out;
    }
    if (n == 0) break;
    used += n;
  }
  if (!parser.is_done() && used == wire.size() && parser.need_eof()) {
    parser.put_eof(ec);
    if (ec) {
      out.error = beast_http::parse_error_of(ec);
      out.keep_alive = false;
      return out;
    }
  }
  if (!parser.is_done()) return out;
  out.keep_alive = parser.keep_alive();
  out.request = beast_http::from_beast(parser.release());
  return out;
}

std::string serialize_http_response(const HttpResponse& response, bool keep_alive) {
  auto r = beast_http::to_beast(HttpResponse(response), keep_alive);
  boost::beast::flat_buffer buffer;
  boost::beast::ostream(buffer) << r;
  auto data = buffer.data();
  return std::string(static_cast<const char*>(data.data()), data.size());
}

HttpResponse parse_error_response(const HttpParseError& e) {
  const char* type = e.status == 413 ? "RequestTooLargeException" : "InvalidRequestContentException";
  return error_response(ApiError(type, e.status, e.message));
}

}  // namespace thaw::api
