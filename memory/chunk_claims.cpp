#include "memory/chunk_claims.h"

#include <utility>

namespace thaw::memory {

ChunkClaim& ChunkClaim::operator=(ChunkClaim&& o) noexcept {
  if (this != &o) {
    if (owner_ && !settled_) settle(ChunkState::kIdle);
    owner_ = std::exchange(o.owner_, nullptr);
    chunk_ = o.chunk_;
    reload_ = o.reload_;
    settled_ = o.settled_;
  }
  return *this;
}

ChunkClaim::~ChunkClaim() {
  if (owner_ && !settled_) settle(ChunkState::kIdle);
}

void ChunkClaim::settle(ChunkState final_state) {
  owner_->states_[chunk_].store(final_state);
  settled_ = true;
}

std::optional<ChunkClaim> ChunkClaims::try_claim(uint64_t chunk, bool reload) {
  ChunkState s = states_[chunk].load();
  if (s == ChunkState::kIdle || (reload && s == ChunkState::kDone))
    if (states_[chunk].compare_exchange_strong(s, ChunkState::kLoading)) return ChunkClaim(this, chunk, s == ChunkState::kDone);
  return std::nullopt;
}

void ChunkClaims::forget(uint64_t chunk) {
  ChunkState done = ChunkState::kDone;
  states_[chunk].compare_exchange_strong(done, ChunkState::kIdle);
}

}  // namespace thaw::memory
