#include "engine/console_lines.h"

namespace thaw::engine {

void ConsoleLines::put(uint8_t b) {
  if (b == '\r') return;
  std::string done;
  {
    std::lock_guard lock(mu_);
    any_ = true;
    if (b != '\n') {
      if (line_.size() < kMaxLine) line_.push_back(static_cast<char>(b));
      return;
    }
    done.swap(line_);
    last_.push_back(done);
    if (last_.size() > kKeptLines) last_.pop_front();
  }
  if (sink_) sink_(done);
}

std::string ConsoleLines::describe_tail() const {
  std::lock_guard lock(mu_);
  if (!any_) return "; the guest printed nothing on its console";
  std::string out = "; the guest's console ended with:";
  for (const auto& l : last_) out += "\n  " + l;
  if (!line_.empty()) out += "\n  " + line_;
  return out;
}

}  // namespace thaw::engine
