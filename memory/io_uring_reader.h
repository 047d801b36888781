#pragma once
// Batched positional reads through io_uring: many reads in flight on one ring, completed in
// any order. Not thread-safe: one owner thread submits and reaps (give each thread a ring).
#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

namespace thaw::memory {

class IoUringReader {
 public:
  // `depth` is the submission queue size: how many reads may be in flight at once.
  explicit IoUringReader(unsigned depth = 128);
  ~IoUringReader();
  IoUringReader(const IoUringReader&) = delete;
  IoUringReader& operator=(const IoUringReader&) = delete;

  // Called once per finished read: the caller's tag and the bytes read, or -errno.
  // A read that returns fewer bytes than asked (end of file) reports the short count.
  using Completion = std::function<void(uint64_t tag, int result)>;

  // Queues a read of dst.size() bytes of fd at offset; submits when the ring is full.
  void queue(int fd, uint64_t offset, std::span<std::byte> dst, uint64_t tag);
  // Submits everything queued and waits until every read in flight has completed.
  void drain(const Completion& done);
  // Submits everything queued and reaps at least `min_complete` completions (0: only ready ones).
  // Returns how many completions were reaped.
  unsigned reap(const Completion& done, unsigned min_complete);

  unsigned in_flight() const { return in_flight_; }
  unsigned depth() const { return depth_; }

  // Reads all of dst at offset, retrying short reads; throws SystemError or thaw::Error (EOF).
  void read_exact(int fd, uint64_t offset, std::span<std::byte> dst, const char* what);

 private:
  void submit();

  io_uring ring_{};
  unsigned depth_;
  unsigned queued_ = 0;     // prepared, not yet submitted
  unsigned in_flight_ = 0;  // prepared or submitted, not yet reaped
};

}  // namespace thaw::memory
