#pragma once
// An invocation as the Lambda API's Invoke takes and returns it, with the REPORT line's figures.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace thaw {

struct InvokeRequest {
  std::string function{};   // a name, "name:qualifier", or a full or partial ARN
  std::string qualifier{};  // version or alias; empty: from `function`, else $LATEST
  std::string payload{};    // up to 6 MB
  std::string client_context{};  // the decoded JSON of X-Amz-Client-Context
  std::string request_id{};      // empty: a new UUID
};

enum class StartKind { kWarm, kCold, kRestored };

// The figures of the invocation's REPORT line.
struct InvokeReport {
  double duration_ms = 0;
  uint64_t billed_duration_ms = 0;
  unsigned memory_size_mb = 0;
  uint64_t max_memory_used_mb = 0;
  StartKind start = StartKind::kWarm;
  double init_duration_ms = 0;     // kCold
  double restore_duration_ms = 0;  // kRestored
  uint64_t billed_restore_duration_ms = 0;
};

struct InvokeResult {
  std::string payload{};         // the function's response, or Lambda's error JSON
  std::string function_error;  // "" on success, else "Unhandled" (X-Amz-Function-Error)
  std::string error_type{};      // e.g. Runtime.ExitError, Sandbox.Timedout, the handler's exception
  std::string executed_version{};
  std::string request_id{};
  std::vector<std::string> log_lines{};  // this invocation's lines, START to REPORT
  InvokeReport report{};
};

// A line of a function's log (its stdout/stderr and the platform's START/END/REPORT lines).
struct LogEvent {
  std::string function{}, version{}, request_id{};  // request_id is empty for INIT and SHUTDOWN lines
  std::string line{};
};

}  // namespace thaw
