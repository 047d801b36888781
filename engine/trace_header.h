#pragma once
// The X-Ray trace header Lambda hands each invocation (Lambda-Runtime-Trace-Id; the runtime
// sets _X_AMZN_TRACE_ID from it), in Lambda's form:
//   Root=1-<epoch seconds, 8 hex>-<96 random bits, 24 hex>;Parent=<64 random bits, 16 hex>;Sampled=0
// thaw sends no traces, so every invocation is unsampled.
#include <chrono>
#include <cstdio>
#include <string>

#include "base/random.h"

namespace thaw::engine {

inline std::string new_trace_header() {
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  char epoch[9];
  std::snprintf(epoch, sizeof epoch, "%08llx", static_cast<unsigned long long>(seconds.count()) & 0xffffffffull);
  return "Root=1-" + std::string(epoch) + "-" + random_hex(12) + ";Parent=" + random_hex(8) + ";Sampled=0";
}

}  // namespace thaw::engine
