#pragma once
// HTTP/1.1 on the wire as the server reads and writes it (Boost.Beast's parser, behind this
// header): the limits a request must keep to, and one request parsed from bytes, for the fuzz
// target and the tests to drive exactly what the server's connections do.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "invoke-api/http_message.h"

namespace thaw::api {

struct HttpLimits {
  uint32_t header_bytes = 16 * 1024;
  // Larger than any request the API takes (CreateFunction's 50 MB .zip, base64 in JSON), so a
  // 7 MB Invoke is read whole and answered RequestTooLargeException by the API itself.
  uint64_t body_bytes = 72ull * 1024 * 1024;
};

// What a malformed or oversized request gets: its status (400, 413, 431) and why.
struct HttpParseError {
  int status = 400;
  std::string message{};
};

struct HttpParse {
  std::optional<HttpRequest> request{};  // set when a whole request was read
  std::optional<HttpParseError> error{};
  bool keep_alive = true;
};

// The first request in `wire`; neither set when `wire` ends before it does.
HttpParse parse_http_request(std::string_view wire, const HttpLimits& limits);

// The response as the server writes it (status line, headers, Content-Length, body).
std::string serialize_http_response(const HttpResponse& response, bool keep_alive);

// The response the server gives a request it could not parse (Lambda's JSON error shape).
HttpResponse parse_error_response(const HttpParseError& e);

}  // namespace thaw::api
