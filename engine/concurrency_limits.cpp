#include "engine/concurrency_limits.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "thaw/error.h"

namespace thaw::engine {

ConcurrencyLimits::Slot::Slot(Slot&& o) noexcept
    : limits_(std::exchange(o.limits_, nullptr)), function_(std::move(o.function_)) {}

ConcurrencyLimits::Slot& ConcurrencyLimits::Slot::operator=(Slot&& o) noexcept {
  if (this != &o) {
    if (limits_) limits_->release(function_);
    limits_ = std::exchange(o.limits_, nullptr);
    function_ = std::move(o.function_);
  }
  return *this;
}

ConcurrencyLimits::Slot::~Slot() {
  if (limits_) limits_->release(function_);
}

ConcurrencyLimits::MemoryLease::MemoryLease(MemoryLease&& o) noexcept
    : limits_(std::exchange(o.limits_, nullptr)), mb_(o.mb_) {}

ConcurrencyLimits::MemoryLease& ConcurrencyLimits::MemoryLease::operator=(MemoryLease&& o) noexcept {
  if (this != &o) {
    if (limits_) limits_->release_memory(mb_);
    limits_ = std::exchange(o.limits_, nullptr);
    mb_ = o.mb_;
  }
  return *this;
}

ConcurrencyLimits::MemoryLease::~MemoryLease() {
  if (limits_) limits_->release_memory(mb_);
}

ConcurrencyLimits::ConcurrencyLimits(ConcurrencyConfig config) : config_(config) {}

unsigned ConcurrencyLimits::reserved_total_locked(const std::string& except) const {
  unsigned total = 0;
  for (const auto& [name, f] : functions_)
    if (name != except && f.reserved) total += *f.reserved;
  return total;
}

unsigned ConcurrencyLimits::unreserved_use_locked() const {
  unsigned use = 0;
  for (const auto& [name, f] : functions_)
    if (!f.reserved) use += f.provisioned + f.on_demand;
  return use;
}

void ConcurrencyLimits::set_reserved(const std::string& function, std::optional<unsigned> reserved, bool check) {
  std::lock_guard lock(mu_);
  auto& f = functions_[function];
  if (check && reserved) {
    unsigned others = reserved_total_locked(function);
    if (uint64_t(others) + *reserved + config_.unreserved_minimum > config_.account_limit)
      throw EngineError(ErrorCode::kInvalidParameter,
                        "Specified ReservedConcurrentExecutions for function decreases account's "
                        "UnreservedConcurrentExecution below its minimum value of [" +
                            std::to_string(config_.unreserved_minimum) + "] (account limit " +
                            std::to_string(config_.account_limit) + ", reserved by other functions " +
                            std::to_string(others) + ")");
    if (*reserved < f.provisioned)
      throw EngineError(ErrorCode::kInvalidParameter,
                        "ReservedConcurrentExecutions " + std::to_string(*reserved) +
                            " is less than the function's provisioned concurrency " + std::to_string(f.provisioned));
  }
  f.reserved = reserved;
}

std::optional<unsigned> ConcurrencyLimits::reserved(const std::string& function) const {
  std::lock_guard lock(mu_);
  auto it = functions_.find(function);
  return it == functions_.end() ? std::nullopt : it->second.reserved;
}

void ConcurrencyLimits::set_provisioned(const std::string& function, unsigned provisioned, bool check) {
  std::lock_guard lock(mu_);
  auto& f = functions_[function];
  if (check && provisioned > f.provisioned) {
    if (f.reserved && provisioned > *f.reserved)
      throw EngineError(ErrorCode::kInvalidParameter,
                        "Requested Provisioned Concurrency should not be greater than the "
                        "reservedConcurrentExecution for function (" + std::to_string(*f.reserved) + ")");
    unsigned unreserved = config_.account_limit - std::min(config_.account_limit, reserved_total_locked({}));
    unsigned provisioned_elsewhere = 0;
    for (const auto& [name, other] : functions_)
      if (!other.reserved && name != function) provisioned_elsewhere += other.provisioned;
    if (!f.reserved && uint64_t(provisioned_elsewhere) + provisioned + config_.unreserved_minimum > unreserved)
      throw EngineError(ErrorCode::kInvalidParameter,
                        "Requested Provisioned Concurrency decreases account's UnreservedConcurrentExecution "
                        "below its minimum value of [" + std::to_string(config_.unreserved_minimum) + "]");
  }
  f.provisioned = provisioned;
}

void ConcurrencyLimits::forget(const std::string& function) {
  std::lock_guard lock(mu_);
  auto it = functions_.find(function);
  if (it == functions_.end()) return;
  // Invocations still in flight give their slots back to a fresh entry.
  it->second.reserved.reset();
  it->second.provisioned = 0;
  if (it->second.on_demand == 0) functions_.erase(it);
}

ConcurrencyLimits::Slot ConcurrencyLimits::admit(const std::string& function) {
  std::lock_guard lock(mu_);
  auto& f = functions_[function];
  if (f.reserved) {
    if (f.provisioned + f.on_demand >= *f.reserved)
      throw EngineError::throttled("ReservedFunctionConcurrentInvocationLimitExceeded",
                                   "Rate Exceeded. The function " + function + " is at its reserved concurrency (" +
                                       std::to_string(*f.reserved) + ")");
  } else {
    unsigned limit = config_.account_limit - std::min(config_.account_limit, reserved_total_locked({}));
    if (unreserved_use_locked() >= limit)
      throw EngineError::throttled("ConcurrentInvocationLimitExceeded",
                                   "Rate Exceeded. The account's unreserved concurrency (" + std::to_string(limit) +
                                       ") is in use");
  }
  ++f.on_demand;
  ++in_flight_total_;
  return Slot(this, function);
}

void ConcurrencyLimits::take_scale_token(const std::string& function, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto& f = functions_[function];
  double burst = config_.burst, window_s = std::chrono::duration<double>(config_.burst_window).count();
  if (f.tokens < 0) {
    f.tokens = burst;
  } else if (window_s > 0) {
    double elapsed = std::chrono::duration<double>(now - f.refilled).count();
    f.tokens = std::min(burst, f.tokens + std::max(0.0, elapsed) * burst / window_s);
  }
  f.refilled = now;
  if (f.tokens >= 1) {
    f.tokens -= 1;
    return;
  }
  double wait_s = burst > 0 && window_s > 0 ? (1 - f.tokens) * window_s / burst : 1;
  throw EngineError::throttled(f.reserved ? "ReservedFunctionInvocationRateLimitExceeded"
                                          : "FunctionInvocationRateLimitExceeded",
                               "Rate Exceeded. The function " + function + " is adding sandboxes faster than " +
                                   std::to_string(config_.burst) + " per " +
                                   std::to_string(config_.burst_window.count()) + " ms",
                               unsigned(std::ceil(wait_s)));
}

std::optional<ConcurrencyLimits::MemoryLease> ConcurrencyLimits::reserve_memory(uint64_t mb) {
  std::lock_guard lock(mu_);
  if (config_.memory_budget_mb && memory_mb_ + mb > config_.memory_budget_mb) return std::nullopt;
  memory_mb_ += mb;
  ++leases_;
  return MemoryLease(this, mb);
}

void ConcurrencyLimits::release(const std::string& function) {
  std::lock_guard lock(mu_);
  auto it = functions_.find(function);
  if (it == functions_.end()) return;
  --it->second.on_demand;
  --in_flight_total_;
}

void ConcurrencyLimits::release_memory(uint64_t mb) {
  std::lock_guard lock(mu_);
  memory_mb_ -= std::min(memory_mb_, mb);
  --leases_;
}

unsigned ConcurrencyLimits::unreserved_limit() const {
  std::lock_guard lock(mu_);
  return config_.account_limit - std::min(config_.account_limit, reserved_total_locked({}));
}

unsigned ConcurrencyLimits::in_flight(const std::string& function) const {
  std::lock_guard lock(mu_);
  auto it = functions_.find(function);
  return it == functions_.end() ? 0 : it->second.on_demand;
}

unsigned ConcurrencyLimits::in_flight_total() const {
  std::lock_guard lock(mu_);
  return in_flight_total_;
}

uint64_t ConcurrencyLimits::memory_in_use_mb() const {
  std::lock_guard lock(mu_);
  return memory_mb_;
}

unsigned ConcurrencyLimits::memory_leases() const {
  std::lock_guard lock(mu_);
  return leases_;
}

}  // namespace thaw::engine
