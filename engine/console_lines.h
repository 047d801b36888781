#pragma once
// The guest's console as lines: each complete line goes to a sink, and the last few are kept so
// that a guest that fails to come up can be reported with what it printed last (a kernel that
// hangs or panics says why there, or says nothing, which tells as much).
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace thaw::engine {

// Bytes arrive on the VM's device thread and the tail is read on the sandbox's: one mutex.
class ConsoleLines {
 public:
  static constexpr size_t kKeptLines = 12;
  static constexpr size_t kMaxLine = 4096;

  explicit ConsoleLines(std::function<void(std::string_view line)> sink) : sink_(std::move(sink)) {}

  void put(uint8_t b);
  // "; the guest's console ended with:" and the kept lines, or that it printed nothing.
  std::string describe_tail() const;

 private:
  std::function<void(std::string_view)> sink_;
  mutable std::mutex mu_;
  std::string line_;
  std::deque<std::string> last_;
  bool any_ = false;
};

}  // namespace thaw::engine
