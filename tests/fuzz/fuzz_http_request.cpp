// libFuzzer: the Runtime API's HTTP/1.1 request parser. Any byte stream must end in requests or
// a clear error, never a crash or a hang, and the outcome must not depend on how the stream is
// split into reads (the first input byte picks the split pattern).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime-api/http_request_parser.h"

namespace {

using thaw::runtime_api::HttpLimits;
using thaw::runtime_api::HttpRequest;
using thaw::runtime_api::HttpRequestParser;

// What parsing `wire` gives, fed in pieces of `step` bytes (0: all at once), as one string.
std::string outcome(std::string_view wire, std::size_t step) {
  HttpLimits limits;
  limits.max_line = 512;
  limits.max_header_bytes = 4096;
  limits.max_header_count = 16;
  limits.max_body = 1024;
  HttpRequestParser p(limits);
  std::string out;
  std::size_t pos = 0;
  while (pos < wire.size()) {
    std::size_t n = step ? std::min(step, wire.size() - pos) : wire.size() - pos;
    std::size_t used = p.feed(wire.substr(pos, n));
    if (used > n) __builtin_trap();
    pos += used;
    if (p.state() == HttpRequestParser::State::kError) {
      out += "error " + std::to_string(p.error_status()) + " " + p.error();
      if (p.error().empty()) __builtin_trap();
      return out;
    }
    if (p.state() == HttpRequestParser::State::kComplete) {
      const HttpRequest& r = p.request();
      if (!r.body_too_large && r.body.size() != r.body_length) __builtin_trap();
      if (r.body.size() > limits.max_body) __builtin_trap();
      out += r.method + " " + r.target + " " + std::to_string(r.body_length) + " " + r.body;
      for (const auto& [k, v] : r.headers) out += "|" + k + ":" + v;
      for (const auto& [k, v] : r.trailers) out += "|t " + k + ":" + v;
      out += r.keep_alive ? " ka\n" : " close\n";
      p.reset();
    } else if (used < n) {
      __builtin_trap();  // an incomplete request must consume everything it is given
    }
  }
  return out + (p.headers_done() ? "partial body" : "partial head");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::size_t step = data[0] % 17 + 1;
  std::string_view wire(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (outcome(wire, 0) != outcome(wire, step)) __builtin_trap();
  return 0;
}
