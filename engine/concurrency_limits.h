#pragma once
// Lambda's concurrency rules for one engine, apart from sandboxes so they can be tested alone.
//
// A function's concurrency is its provisioned sandboxes plus its on-demand invocations in
// flight. A function with a reservation may use up to it (and no other function may take it);
// the others share what the reservations leave of the account limit, which never drops below
// the unreserved minimum. New sandboxes of a function come at most `burst` per `burst_window`
// (a token bucket that starts full, as Lambda scales 1,000 per 10 s). And every live sandbox
// holds its memory against the memory budget: the host holds no more than that.
//
// Thread-safe. Over a limit, admit() and take_scale_token() throw EngineError kThrottled with
// Lambda's Reason and a Retry-After.
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace thaw::engine {

struct ConcurrencyConfig {
  unsigned account_limit = 1000;
  unsigned unreserved_minimum = 100;
  unsigned burst = 1000;
  std::chrono::milliseconds burst_window = std::chrono::seconds(10);
  uint64_t memory_budget_mb = 0;  // 0: no budget
};

class ConcurrencyLimits {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ConcurrencyLimits(ConcurrencyConfig config);

  // An on-demand invocation's place in its function's and the account's concurrency; given
  // back when destroyed.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& o) noexcept;
    Slot& operator=(Slot&& o) noexcept;
    ~Slot();

   private:
    friend class ConcurrencyLimits;
    Slot(ConcurrencyLimits* limits, std::string function) : limits_(limits), function_(std::move(function)) {}
    ConcurrencyLimits* limits_ = nullptr;
    std::string function_;
  };

  // A live sandbox's memory against the budget; given back when destroyed.
  class MemoryLease {
   public:
    MemoryLease() = default;
    MemoryLease(MemoryLease&& o) noexcept;
    MemoryLease& operator=(MemoryLease&& o) noexcept;
    ~MemoryLease();

   private:
    friend class ConcurrencyLimits;
    MemoryLease(ConcurrencyLimits* limits, uint64_t mb) : limits_(limits), mb_(mb) {}
    ConcurrencyLimits* limits_ = nullptr;
    uint64_t mb_ = 0;
  };

  // nullopt: the function shares the unreserved pool. Throws EngineError kInvalidParameter when
  // the reservation would leave the unreserved pool under its minimum, or is under what the
  // function has provisioned. `check` false takes it as it is (reservations read back at
  // start-up, made under other limits).
  void set_reserved(const std::string& function, std::optional<unsigned> reserved, bool check = true);
  std::optional<unsigned> reserved(const std::string& function) const;
  // Provisioned sandboxes of all of a function's versions and aliases. Throws kInvalidParameter
  // when they do not fit its reservation or the unreserved pool (`check` as for set_reserved).
  void set_provisioned(const std::string& function, unsigned provisioned, bool check = true);
  // The function is gone: its reservation and provisioning with it.
  void forget(const std::string& function);

  Slot admit(const std::string& function);
  void take_scale_token(const std::string& function, Clock::time_point now = Clock::now());
  // nullopt when `mb` more does not fit the budget.
  std::optional<MemoryLease> reserve_memory(uint64_t mb);

  // The account limit less every reservation (and provisioning of unreserved functions is
  // counted as use, not taken off).
  unsigned unreserved_limit() const;
  unsigned in_flight(const std::string& function) const;
  unsigned in_flight_total() const;
  uint64_t memory_in_use_mb() const;
  unsigned memory_leases() const;  // the sandboxes that exist
  const ConcurrencyConfig& config() const { return config_; }

 private:
  struct Function {
    std::optional<unsigned> reserved;
    unsigned provisioned = 0, on_demand = 0;
    double tokens = -1;  // < 0: a full bucket, not yet touched
    Clock::time_point refilled{};
  };
  void release(const std::string& function);
  void release_memory(uint64_t mb);
  unsigned reserved_total_locked(const std::string& except) const;
  unsigned unreserved_use_locked() const;  // provisioned + on-demand of functions without reservations

  const ConcurrencyConfig config_;
  mutable std::mutex mu_;
  std::map<std::string, Function> functions_;
  unsigned in_flight_total_ = 0;
  uint64_t memory_mb_ = 0;
  unsigned leases_ = 0;
};

}  // namespace thaw::engine
