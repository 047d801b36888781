#include "engine/invocation_metrics.h"

#include <algorithm>

namespace thaw::engine {

std::vector<double> duration_buckets_ms() {
  return {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 900000};
}

Distribution empty_distribution() {
  Distribution d;
  d.upper_bounds = duration_buckets_ms();
  d.counts.assign(d.upper_bounds.size() + 1, 0);
  return d;
}

void observe(Distribution& d, double value) {
  auto at = std::lower_bound(d.upper_bounds.begin(), d.upper_bounds.end(), value);
  ++d.counts[static_cast<size_t>(at - d.upper_bounds.begin())];
  ++d.count;
  d.sum += value;
}

VersionMetrics& InvocationMetrics::entry(const std::string& function, const std::string& version) {
  auto [it, added] = by_version_.try_emplace({function, version});
  if (added) {
    it->second.function = function;
    it->second.version = version;
    for (Distribution* d : {&it->second.duration_ms, &it->second.init_duration_ms, &it->second.restore_duration_ms})
      *d = empty_distribution();
  }
  return it->second;
}

void InvocationMetrics::invoked(const std::string& function, const thaw::InvokeResult& result) {
  std::lock_guard lock(mu_);
  auto& m = entry(function, result.executed_version);
  ++m.invocations;
  if (!result.function_error.empty()) ++m.errors;
  observe(m.duration_ms, result.report.duration_ms);
  if (result.report.start == StartKind::kCold) observe(m.init_duration_ms, result.report.init_duration_ms);
  if (result.report.start == StartKind::kRestored) observe(m.restore_duration_ms, result.report.restore_duration_ms);
}

void InvocationMetrics::failed_to_start(const std::string& function, const std::string& version) {
  std::lock_guard lock(mu_);
  auto& m = entry(function, version);
  ++m.invocations;
  ++m.errors;
}

void InvocationMetrics::throttled(const std::string& function, const std::string& version) {
  std::lock_guard lock(mu_);
  ++entry(function, version).throttles;
}

void InvocationMetrics::forget(const std::string& function) {
  std::lock_guard lock(mu_);
  std::erase_if(by_version_, [&](const auto& kv) { return kv.first.first == function; });
}

std::vector<VersionMetrics> InvocationMetrics::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<VersionMetrics> out;
  out.reserve(by_version_.size());
  for (const auto& [key, m] : by_version_) out.push_back(m);
  return out;
}

}  // namespace thaw::engine
