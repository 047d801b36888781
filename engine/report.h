#pragma once
// Lambda's per-invocation log lines: START, END and REPORT, and the INIT_REPORT of a
// snapshot's init. Durations are measured in milliseconds with two decimals; billing rounds
// up to the next whole millisecond, as Lambda does.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "thaw/invoke.h"

namespace thaw::engine {

// How the sandbox that ran the invocation was started, for the REPORT's last fields.
struct StartInfo {
  enum class Kind { kWarm, kCold, kRestored } kind = Kind::kWarm;
  double init_ms = 0;             // kCold: Init Duration
  double restore_ms = 0;          // kRestored: Restore Duration (whole restore, VMM + hooks)
  double billed_restore_ms = 0;   // kRestored: the runtime's after-restore hooks only
  // kRestored: the critical path up to the first response (names: thaw::InvokeReport).
  std::vector<RestorePhase> phases;
};

struct InvocationReport {
  std::string request_id;
  double duration_ms = 0;
  uint32_t memory_size_mb = 0;
  uint64_t max_memory_used_bytes = 0;
  StartInfo start;
  std::optional<std::string> status;  // "timeout", "error" — Lambda's Status field when not a success
};

// Whole milliseconds Lambda bills for `ms`: rounded up, at least 1.
uint64_t billed_ms(double ms);

std::string start_line(const std::string& request_id, const std::string& version = "$LATEST");
std::string end_line(const std::string& request_id);
// "REPORT RequestId: <id>\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t..."
std::string report_line(const InvocationReport& r);
// "INIT_REPORT Init Duration: 123.45 ms\tPhase: init\tStatus: success"
std::string init_report_line(double init_ms, bool success);

}  // namespace thaw::engine
