#pragma once
// The engine's per-version invocation counts and duration distributions (thaw/metrics.h),
// recorded as invocations end. Thread-safe; one mutex, held only to add to a map entry.
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "thaw/invoke.h"
#include "thaw/metrics.h"

namespace thaw::engine {

// Bucket bounds in ms, from a warm invoke of a millisecond to Lambda's 15-minute timeout.
std::vector<double> duration_buckets_ms();
// Those bounds with no observation yet.
Distribution empty_distribution();
// Adds `value` to its bucket; `d` has counts for each of its bounds and one above them.
void observe(Distribution& d, double value);

class InvocationMetrics {
 public:
  // An invocation that ran: its outcome and REPORT figures.
  void invoked(const std::string& function, const thaw::InvokeResult& result);
  // One whose sandbox failed to start (its INIT failed): an invocation and an error, no duration.
  void failed_to_start(const std::string& function, const std::string& version);
  void throttled(const std::string& function, const std::string& version);
  // A deleted function's counts go with it.
  void forget(const std::string& function);
  std::vector<VersionMetrics> snapshot() const;

 private:
  VersionMetrics& entry(const std::string& function, const std::string& version);

  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, VersionMetrics> by_version_;
};

}  // namespace thaw::engine
