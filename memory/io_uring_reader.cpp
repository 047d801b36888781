#include "memory/io_uring_reader.h"

#include <cerrno>
#include <string>

#include "base/error.h"

namespace thaw::memory {

IoUringReader::IoUringReader(unsigned depth) : depth_(depth) {
  int r = io_uring_queue_init(depth, &ring_, 0);
  if (r < 0)
    throw_error_number(r, "io_uring_queue_init",
                       "depth " + std::to_string(depth) +
                           (r == -EPERM || r == -ENOSYS ? "; io_uring may be disabled (kernel.io_uring_disabled)" : ""));
}

IoUringReader::~IoUringReader() {
  // Reads still in flight write into buffers the caller owns: wait for them before the ring goes.
  try {
    if (in_flight_ > 0) drain([](uint64_t, int) {});
  } catch (...) {
  }
  io_uring_queue_exit(&ring_);
}

void IoUringReader::submit() {
  while (queued_ > 0) {
    int r = io_uring_submit(&ring_);
    if (r == -EINTR || r == -EAGAIN || r == -EBUSY) continue;
    if (r < 0) throw_error_number(r, "io_uring_submit");
    queued_ -= static_cast<unsigned>(r) > queued_ ? queued_ : static_cast<unsigned>(r);
    if (r == 0) break;
  }
}

void IoUringReader::queue(int fd, uint64_t offset, std::span<std::byte> dst, uint64_t tag) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe) {
    submit();
    sqe = io_uring_get_sqe(&ring_);
    if (!sqe) throw Error("io_uring: submission queue full after submit");
  }
  io_uring_prep_read(sqe, fd, dst.data(), static_cast<unsigned>(dst.size()), offset);
  io_uring_sqe_set_data64(sqe, tag);
  ++queued_;
  ++in_flight_;
}

unsigned IoUringReader::reap(const Completion& done, unsigned min_complete) {
  submit();
  unsigned n = 0;
  while (in_flight_ > 0) {
    io_uring_cqe* cqe = nullptr;
    int r = (n < min_complete) ? io_uring_wait_cqe(&ring_, &cqe) : io_uring_peek_cqe(&ring_, &cqe);
    if (r == -EINTR) continue;
    if (r == -EAGAIN) break;
    if (r < 0) throw_error_number(r, "io_uring_wait_cqe");
    uint64_t tag = io_uring_cqe_get_data64(cqe);
    int res = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    --in_flight_;
    ++n;
    done(tag, res);
  }
  return n;
}

void IoUringReader::drain(const Completion& done) {
  while (in_flight_ > 0) reap(done, in_flight_);
}

void IoUringReader::read_exact(int fd, uint64_t offset, std::span<std::byte> dst, const char* what) {
  size_t done_bytes = 0;
  while (done_bytes < dst.size()) {
    int result = 0;
    queue(fd, offset + done_bytes, dst.subspan(done_bytes), 0);
    drain([&](uint64_t, int res) { result = res; });
    if (result < 0) throw_error_number(result, "io_uring read", what);
    if (result == 0)
      throw Error(std::string("unexpected end of file reading ") + what + " at offset " +
                  std::to_string(offset + done_bytes));
    done_bytes += static_cast<size_t>(result);
  }
}

}  // namespace thaw::memory
