#pragma once
// What the engine counts about its invocations, per function and the version that ran: the
// figures Lambda publishes to CloudWatch (Invocations, Errors, Throttles, Duration,
// ConcurrentExecutions; thaw adds its INIT and restore durations). Engine::metrics() reads
// them; `thaw serve` serves them as Prometheus text at GET /metrics. Counts start at zero
// when the engine starts and are not kept across restarts.
#include <cstdint>
#include <string>
#include <vector>

namespace thaw {

// Observations in buckets: counts[i] holds those in (upper_bounds[i-1], upper_bounds[i]];
// counts has one more entry than upper_bounds, for those above the last bound.
struct Distribution {
  std::vector<double> upper_bounds;
  std::vector<uint64_t> counts;
  uint64_t count = 0;
  double sum = 0;
};

struct VersionMetrics {
  std::string function, version;  // the version that ran ("$LATEST", "1", ...)
  uint64_t invocations = 0;       // that reached a sandbox (a failed INIT counts)
  uint64_t errors = 0;            // of those, ended with a function error
  uint64_t throttles = 0;         // refused for a concurrency limit or the burst rate
  Distribution duration_ms, init_duration_ms, restore_duration_ms;
};

struct FunctionConcurrency {
  std::string function;
  unsigned concurrent_executions = 0;  // invocations running now
  int64_t reserved = -1;               // reserved concurrency; -1: none
};

// A provisioned concurrency configuration's sandboxes and how invocations used them.
struct ProvisionedMetrics {
  std::string function, qualifier;  // qualifier: the version or alias it is for
  unsigned requested = 0, allocated = 0;
  unsigned in_use = 0;  // running an invocation now
  uint64_t invocations = 0;            // that ran on a provisioned sandbox
  uint64_t spillover_invocations = 0;  // that found none idle and ran on demand
};

struct EngineMetrics {
  std::vector<VersionMetrics> versions;
  std::vector<FunctionConcurrency> functions;
  std::vector<ProvisionedMetrics> provisioned;
};

}  // namespace thaw
