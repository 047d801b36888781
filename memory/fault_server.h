#pragma once
// The fault thread of a LazyLoader: reads the userfaultfd's messages and serves them.
//  - Page faults, a batch of messages at a time: each faulting page's chunk is read (io_uring,
//    every chunk of the batch in flight at once; concurrent faults on one chunk load it once),
//    decoded and installed (fault-around: all its missing pages; zero pages are never read),
//    then woken. A chunk another thread has claimed is left to it (see chunk_claims.h).
//  - UFFD_EVENT_REMOVE (madvise DONTNEED/REMOVE): the pages are no longer there; touched again
//    they read as zeros, as anonymous memory does, or with reload_removed come back from the
//    source.
//  - A chunk that cannot be read or decoded: the owner's FailureCallback hears of it first, then
//    the faulting page becomes what LazyLoaderOptions::failed_pages says, and its thread is woken.
//  - The userfaultfd itself unreadable: the owner is told (kAllChunks), every page not loaded
//    yet fails at once the same way, and prefetching stops: no access waits for a fault nobody
//    will serve.
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "base/byte_buffer.h"
#include "base/unique_fd.h"
#include "memory/io_uring_reader.h"
#include "memory/loader_core.h"

namespace thaw::memory {

class FaultServer {
 public:
  // Starts the thread on `core` (which must outlive this).
  explicit FaultServer(LoaderCore& core);
  ~FaultServer();  // stops and joins the thread
  FaultServer(const FaultServer&) = delete;
  FaultServer& operator=(const FaultServer&) = delete;

  // The descriptor the thread polls and reads (a duplicate of the userfaultfd), for tests that
  // break it under the loader.
  int fault_fd() const { return fault_fd_.get(); }

 private:
  struct Job;
  void loop();
  void handle_faults(const std::vector<uint64_t>& addresses, IoUringReader& ring);
  // Claims the chunks of `pages` (sorted by chunk) it can; zero-filled and failed ones are done
  // at once, the rest become jobs to read.
  std::vector<Job> claim_jobs(const std::vector<std::pair<uint64_t, uint64_t>>& by_chunk);
  void finish_job(Job& job);
  // Installs a claimed chunk's pages (fault-around: all it misses; else the faulting ones),
  // settles the claim and wakes the chunk; `counter` counts a first load.
  void install_and_wake(ChunkClaim& claim, PageData data, std::span<const uint64_t> faulting,
                        std::atomic<uint64_t>& counter);
  void handle_remove(uint64_t start, uint64_t end);
  void fail_pages(uint64_t chunk, std::span<const uint64_t> pages, const std::string& cause);
  void fail_everything(const std::string& cause);

  LoaderCore& core_;
  UniqueFd stop_event_;
  // The thread polls and reads this duplicate; the ioctls go through the installer's
  // userfaultfd, so should reading ever fail, they still work to release every waiter.
  UniqueFd fault_fd_;
  ByteBuffer decoded_;  // the fault thread's, reused
  std::thread thread_;
};

}  // namespace thaw::memory
