#pragma once
// The chunks a restore touches, in first-touch order, while recording is on: what the next
// restores of the snapshot prefetch. Thread-safe; a chunk is recorded once.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "memory/page_bitmap.h"

namespace thaw::memory {

class WorkingSetRecorder {
 public:
  WorkingSetRecorder(uint64_t chunks, bool on) : seen_(chunks), on_(on) {}

  void record(uint64_t chunk) {
    if (!on_.load(std::memory_order_relaxed) || seen_.test_and_set(chunk)) return;
    std::lock_guard lock(mu_);
    if (on_) chunks_.push_back(chunk);
  }
  // Stops recording; the chunks recorded until then.
  std::vector<uint64_t> stop() {
    std::lock_guard lock(mu_);
    on_ = false;
    return chunks_;
  }
  std::vector<uint64_t> chunks() const {
    std::lock_guard lock(mu_);
    return chunks_;
  }

 private:
  AtomicBitmap seen_;
  std::atomic<bool> on_;
  mutable std::mutex mu_;
  std::vector<uint64_t> chunks_;
};

}  // namespace thaw::memory
