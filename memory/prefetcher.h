#pragma once
// Loading chunks in bulk, ahead of the guest: the recorded working set first (REAP's prefetch),
// then, optionally, every other chunk at the lowest CPU priority; load_all uses the same batch
// load. A batch claims what it can of its chunks (chunks another thread holds are skipped),
// reads them all at once (io_uring), decodes them into one buffer in chunk order, installs runs
// of consecutive chunks with single copies (no wake), settles their states and wakes each
// segment's span of the batch once. With a shared image, chunks already in it are mapped from it
// without being read, and the others are put in it before they are mapped. A chunk that fails
// to read or decode is settled idle: the fault handler loads it again if it is touched, and
// reports the failure then.
#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "base/byte_buffer.h"
#include "memory/io_uring_reader.h"
#include "memory/loader_core.h"

namespace thaw::memory {

// One thread's ring and buffers, reused from batch to batch.
class BatchLoader {
 public:
  BatchLoader(LoaderCore& core, unsigned io_depth) : core_(core), ring_(io_depth) {}
  // Loads `chunks` in batches of options.prefetch_batch_chunks; returns how many it installed.
  // *failed is set when a chunk failed to read or decode.
  uint64_t load(std::span<const uint64_t> chunks, bool* failed = nullptr);
  uint64_t load_batch(std::span<const uint64_t> chunks, bool* failed);

 private:
  struct Slot {
    size_t claim = 0;  // in claims_
    uint64_t chunk = 0;
    std::optional<ChunkExtent> extent;
    int result = 0;
    size_t offset = 0;  // in decoded_
    bool in_image = false;  // another clone put it in the shared image: nothing to read
    bool ok = false;
  };
  void read_and_decode();
  uint64_t install_and_wake(bool* failed);

  LoaderCore& core_;
  IoUringReader ring_;
  std::vector<Slot> slots_;
  std::vector<ChunkClaim> claims_;
  std::vector<ByteBuffer> stored_;
  ByteBuffer decoded_;
};

class Prefetcher {
 public:
  explicit Prefetcher(LoaderCore& core) : core_(core) {}
  ~Prefetcher() { join(); }  // the core's `stopping` must be set first for a prompt end
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // Starts options.prefetch_threads threads on `chunks` (in order), then, with `background`, on
  // every chunk not loaded yet. Once; throws thaw::Error on a second call or a bad chunk id.
  void start(std::vector<uint64_t> chunks, bool background);
  // Returns once every thread is through the working set (at once if none was started).
  void wait_working_set();
  void join();

 private:
  void run();
  // Counts a thread through the working set (`thread_ok`: it got to the end of it); the last
  // one records the prefetch's end and sets working_set_in_.
  void through_working_set(bool thread_ok);
  void background_pass(BatchLoader& loader);

  LoaderCore& core_;
  bool started_ = false;
  bool background_ = false;
  std::vector<uint64_t> list_;
  std::atomic<size_t> ws_cursor_{0};
  std::atomic<uint64_t> bg_cursor_{0};
  std::atomic<size_t> threads_done_{0};  // through the working set, then through the background pass
  std::atomic<bool> working_set_in_{false};
  size_t thread_count_ = 0;  // set before any thread starts
  std::vector<std::thread> threads_;
};

}  // namespace thaw::memory
