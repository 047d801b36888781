// libFuzzer: `thaw serve`'s request handling. Any bytes go through the server's HTTP parser and,
// when they make a request, through the Lambda API over a real Engine (a data directory of its
// own, no image builders, so nothing boots): every outcome must be a response with a status the
// API gives, never a crash, a hang or an exception escaping.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "invoke-api/http_wire.h"
#include "invoke-api/lambda_api.h"

namespace {

thaw::api::LambdaApi& api() {
  static auto dir = std::filesystem::temp_directory_path() / ("thaw-fuzz-api-" + std::to_string(getpid()));
  static auto engine = [] {
    std::filesystem::remove_all(dir);
    thaw::EngineOptions o;
    o.data_dir = dir.string();
    o.build_workers = 0;
    o.async.workers = 0;  // accepted events stay queued: nothing would run them here
    o.guest_agent = "/bin/true";
    return std::make_unique<thaw::Engine>(o);
  }();
  static thaw::api::LambdaApi lambda(*engine, {});
  return lambda;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view wire(reinterpret_cast<const char*>(data), size);
  auto parsed = thaw::api::parse_http_request(wire, {.header_bytes = 4096, .body_bytes = 1 << 20});
  thaw::api::HttpResponse response;
  if (parsed.error)
    response = thaw::api::parse_error_response(*parsed.error);
  else if (parsed.request)
    response = api().handle(*parsed.request);
  else
    return 0;
  if (response.status < 200 || response.status > 599) __builtin_trap();
  thaw::api::serialize_http_response(response, parsed.keep_alive);
  return 0;
}
