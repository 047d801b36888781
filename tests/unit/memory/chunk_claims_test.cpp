// Who installs which chunk: one claimant at a time, a claim ends by settling the chunk's state,
// and a claim dropped unsettled frees the chunk again.
#include "memory/chunk_claims.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace thaw::memory {
namespace {

TEST(ChunkClaims, OneClaimantAtATimeAndTheStateItSettles) {
  ChunkClaims claims(4);
  auto a = claims.try_claim(1);
  ASSERT_TRUE(a);
  EXPECT_EQ(claims.state(1), ChunkState::kLoading);
  EXPECT_FALSE(claims.try_claim(1));
  EXPECT_FALSE(claims.try_claim(1, /*reload=*/true));
  EXPECT_FALSE(a->reload());
  a->settle(ChunkState::kDone);
  EXPECT_TRUE(a->settled());
  EXPECT_EQ(claims.state(1), ChunkState::kDone);
  EXPECT_FALSE(claims.try_claim(1)) << "a loaded chunk is claimed again only to reload it";
  auto again = claims.try_claim(1, /*reload=*/true);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->reload());
  again->settle(ChunkState::kFailed);
  EXPECT_FALSE(claims.try_claim(1, true)) << "a failed chunk is never claimed";
}

TEST(ChunkClaims, AClaimDroppedUnsettledFreesTheChunk) {
  ChunkClaims claims(2);
  {
    auto a = claims.try_claim(0);
    ASSERT_TRUE(a);
    ChunkClaim moved = std::move(*a);
    EXPECT_EQ(claims.state(0), ChunkState::kLoading);
  }
  EXPECT_EQ(claims.state(0), ChunkState::kIdle);
  EXPECT_TRUE(claims.try_claim(0));
}

TEST(ChunkClaims, ForgetTurnsOnlyALoadedChunkIdle) {
  ChunkClaims claims(3);
  claims.try_claim(0)->settle(ChunkState::kDone);
  auto held = claims.try_claim(1);
  claims.forget(0);
  claims.forget(1);
  EXPECT_EQ(claims.state(0), ChunkState::kIdle);
  EXPECT_EQ(claims.state(1), ChunkState::kLoading) << "a claimed chunk stays its claimant's";
}

TEST(ChunkClaims, RacingThreadsGetEachChunkOnce) {
  constexpr uint64_t kChunks = 4096;
  ChunkClaims claims(kChunks);
  std::atomic<uint64_t> won{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (uint64_t c = 0; c < kChunks; ++c)
        if (auto claim = claims.try_claim(c)) {
          won++;
          claim->settle(ChunkState::kDone);
        }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), kChunks);
}

}  // namespace
}  // namespace thaw::memory
