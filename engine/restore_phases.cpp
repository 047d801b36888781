#include "engine/restore_phases.h"

#include "base/log.h"

namespace thaw::engine {

void PhaseClock::mark(std::string name, Clock::time_point end) {
  phases_.push_back({std::move(name), std::chrono::duration<double, std::milli>(end - last_).count()});
  last_ = end;
}

double total_ms(std::span<const RestorePhase> phases) {
  double t = 0;
  for (const auto& p : phases) t += p.ms;
  return t;
}

std::string format_phases(std::span<const RestorePhase> phases) {
  std::string s;
  for (const auto& p : phases) s += fmt::format("{}{} {:.2f} ms", s.empty() ? "" : ", ", p.name, p.ms);
  return s + fmt::format(" (total {:.2f} ms)", total_ms(phases));
}

}  // namespace thaw::engine
