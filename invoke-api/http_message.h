#pragma once
// One HTTP/1.1 request and its response, as the Lambda API handles them: plain strings, so the
// API is tested and fuzzed without a socket and knows nothing of the server library.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace thaw::api {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method{};  // as sent: "GET", "POST", ...
  std::string target{};  // path and query, still percent-encoded
  HttpHeaders headers{};
  std::string body{};
  // The header's value (names compare case-insensitively; the first of repeated ones).
  std::optional<std::string_view> header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers{};
  std::string body{};
  void set_header(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
  std::optional<std::string_view> header(std::string_view name) const;
};

bool iequals(std::string_view a, std::string_view b);

}  // namespace thaw::api
