#pragma once
// A token bucket for a byte rate: `rate` tokens a second flow in, at most `burst` are kept.
// A frame of n bytes goes when n tokens are there, so a frame larger than the burst is let
// through only from a full bucket (then empties it). Only charge() puts the bucket into debt,
// for what had to go regardless; later frames wait until it is paid back.
// Time is passed in, so the arithmetic is testable without waiting.
#include <algorithm>
#include <chrono>
#include <cstdint>

namespace thaw::vmm {

// Outbound traffic limit of one network card; rate 0 means none.
struct NetRateLimit {
  uint64_t bytes_per_second = 0;
  uint64_t burst_bytes = 0;  // 0: one second's worth
};

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(NetRateLimit limit, Clock::time_point now)
      : rate_(limit.bytes_per_second),
        burst_(limit.burst_bytes ? limit.burst_bytes : limit.bytes_per_second),
        tokens_(static_cast<double>(burst_)),
        last_(now) {}

  bool limited() const { return rate_ != 0; }

  // Takes n tokens and returns true, or takes none and returns false.
  bool take(uint64_t n, Clock::time_point now) {
    if (!limited()) return true;
    refill(now);
    double need = static_cast<double>(std::min(n, burst_));
    if (tokens_ + 1e-9 < need) return false;
    tokens_ = std::max(0.0, tokens_ - static_cast<double>(n));  // a frame over the burst empties it
    return true;
  }

  // Takes n tokens whether they are there or not.
  void charge(uint64_t n, Clock::time_point now) {
    if (!limited()) return;
    refill(now);
    tokens_ -= static_cast<double>(n);
  }

  // How long until take(n) would succeed (zero if it would now).
  std::chrono::nanoseconds wait_for(uint64_t n, Clock::time_point now) {
    if (!limited()) return {};
    refill(now);
    double need = static_cast<double>(std::min(n, burst_)) - tokens_;
    if (need <= 0) return {};
    return std::chrono::nanoseconds(static_cast<int64_t>(need * 1e9 / static_cast<double>(rate_)) + 1);
  }

 private:
  void refill(Clock::time_point now) {
    if (now <= last_) return;
    double seconds = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(static_cast<double>(burst_), tokens_ + seconds * static_cast<double>(rate_));
    last_ = now;
  }

  uint64_t rate_, burst_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace thaw::vmm
