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
  std::string payload{};    // up to 6 MB; empty: the empty object, as Lambda's Invoke
  std::string client_context{};  // the decoded JSON of X-Amz-Client-Context
  std::string request_id{};      // empty: a new UUID
  std::string tenant_id{};       // X-Amz-Tenant-Id: the function sees it as context.tenant_id
};

enum class StartKind { kWarm, kCold, kRestored };

// One phase of a restore's critical path (see InvokeReport::restore_phases).
struct RestorePhase {
  std::string name{};
  double ms = 0;
};

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
  // kRestored: where the time to the first response went, phase by phase in the order they ran
  // (wall clock, back to back): vmm_process (spawning the VMM process), snapshot_open (manifest
  // and machine state read), memory_map (guest memory and its loader), vm_create (KVM VM,
  // irqchip, memory slots, devices), state_restore (vCPU, VM and device state), working_set
  // (installing the recorded working set, where that runs before the vCPUs resume),
  // stage2_prefault (mapping it into KVM's stage 2, on Linux 6.11+ hosts), resume,
  // agent_hooks (the agent's entropy, clock and identity), runtime_hooks (the runtime's
  // after-restore hooks) and first_response (the first invocation, to its answer).
  std::vector<RestorePhase> restore_phases{};
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
