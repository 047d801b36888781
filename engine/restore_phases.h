#pragma once
// A restore's critical path as it runs: phases back to back, each closed by a monotonic
// timestamp (steady_clock, which is CLOCK_MONOTONIC: one clock for the engine and its VMM
// processes, so a phase may start in one and end in the other). Phases measured elsewhere (the
// guest's hooks, on the guest's clock) are added as durations. Names: thaw::InvokeReport.
#include <chrono>
#include <span>
#include <string>
#include <vector>

#include "thaw/invoke.h"

namespace thaw::engine {

class PhaseClock {
 public:
  using Clock = std::chrono::steady_clock;
  explicit PhaseClock(Clock::time_point start = Clock::now()) : last_(start) {}

  // Closes the running phase as `name`, at `end` (now by default); the next one starts there.
  void mark(std::string name, Clock::time_point end = Clock::now());
  // A phase timed elsewhere; the next phase still starts at the last mark.
  void add(std::string name, double ms) { phases_.push_back({std::move(name), ms}); }
  // Restarts the next phase at `t` (after phases added as durations that ended there).
  void restart_at(Clock::time_point t) { last_ = t; }
  Clock::time_point last_mark() const { return last_; }

  const std::vector<RestorePhase>& phases() const { return phases_; }
  std::vector<RestorePhase> take() { return std::move(phases_); }

 private:
  Clock::time_point last_;
  std::vector<RestorePhase> phases_;
};

// "vm_create 3.20 ms, state_restore 0.81 ms, ... (total 41.02 ms)".
std::string format_phases(std::span<const RestorePhase> phases);
double total_ms(std::span<const RestorePhase> phases);

}  // namespace thaw::engine
