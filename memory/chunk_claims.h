#pragma once
// Who installs which chunk. Every loader thread (the fault thread, the prefetch threads,
// load_all) keeps one invariant, held here in code rather than in comments:
//  - a chunk is installed only by the thread that holds its claim (idle -> loading, or
//    done -> loading to load again pages that went missing), so no two threads ever install one
//    chunk at once;
//  - a claim ends by settling the chunk's state (done, idle or failed), and the chunk's pages are
//    woken only after that (PageInstaller::wake takes settled claims only): a faulting thread
//    that found the chunk claimed leaves it to the claimant and is sure to be woken once its
//    page is in, or, woken early, faults again and reads the settled state.
// A ChunkClaim dropped without being settled goes back to idle, so no chunk stays `loading` for
// good after an exception.
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

namespace thaw::memory {

enum class ChunkState : uint8_t { kIdle = 0, kLoading = 1, kDone = 2, kFailed = 3 };

class ChunkClaims;

class ChunkClaim {
 public:
  ChunkClaim(ChunkClaim&& o) noexcept : owner_(o.owner_), chunk_(o.chunk_), reload_(o.reload_), settled_(o.settled_) {
    o.owner_ = nullptr;
  }
  ChunkClaim& operator=(ChunkClaim&& o) noexcept;
  ChunkClaim(const ChunkClaim&) = delete;
  ChunkClaim& operator=(const ChunkClaim&) = delete;
  ~ChunkClaim();

  uint64_t chunk() const { return chunk_; }
  // Claimed from done: its pages had been loaded before (not a new load for the statistics).
  bool reload() const { return reload_; }
  // Publishes the chunk's state at the end of this claim (kDone, kIdle or kFailed).
  void settle(ChunkState final_state);
  bool settled() const { return settled_; }

 private:
  friend class ChunkClaims;
  ChunkClaim(ChunkClaims* owner, uint64_t chunk, bool reload) : owner_(owner), chunk_(chunk), reload_(reload) {}
  ChunkClaims* owner_;
  uint64_t chunk_;
  bool reload_;
  bool settled_ = false;
};

class ChunkClaims {
 public:
  explicit ChunkClaims(uint64_t chunks) : states_(std::make_unique<std::atomic<ChunkState>[]>(chunks)) {}

  ChunkState state(uint64_t chunk) const { return states_[chunk].load(); }
  // The claim on an idle chunk (with `reload`, on a done one too); nullopt when another thread
  // holds it or the chunk failed.
  std::optional<ChunkClaim> try_claim(uint64_t chunk, bool reload = false);
  // done -> idle: pages of a loaded chunk went missing (madvise), so loading it is a new load.
  void forget(uint64_t chunk);

 private:
  friend class ChunkClaim;
  std::unique_ptr<std::atomic<ChunkState>[]> states_;
};

}  // namespace thaw::memory
