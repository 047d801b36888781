// Provisioned concurrency's bookkeeping: work handed out one sandbox at a time, READY when all
// are, FAILED with the reason, a new generation when the artifact changes, surplus shut down.
#include <gtest/gtest.h>

#include <thread>

#include "engine/provisioned_configs.h"

namespace thaw::engine {
namespace {

TEST(ProvisionedConfigs, WorkForEachSandboxThenReady) {
  ProvisionedConfigs p;
  auto c = p.put("f", "1", 2, "f/1/snap/", "t0");
  EXPECT_EQ(c.state, ProvisionedStatus::kInProgress);
  auto a = p.next_work(), b = p.next_work();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->pool_key, "f/1/snap/");
  p.started(*a);
  EXPECT_EQ(p.get("f", "1")->state, ProvisionedStatus::kInProgress);
  p.started(*b);
  EXPECT_EQ(p.get("f", "1")->state, ProvisionedStatus::kReady);
  EXPECT_EQ(p.get("f", "1")->ready, 2u);
  EXPECT_EQ(p.requested_of("f"), 2u);
  // One dies: IN_PROGRESS, and one more is asked for.
  p.gone({"f", "1"}, a->generation);
  EXPECT_EQ(p.get("f", "1")->state, ProvisionedStatus::kInProgress);
  auto again = p.next_work();
  ASSERT_TRUE(again);
  p.started(*again);
  EXPECT_EQ(p.get("f", "1")->state, ProvisionedStatus::kReady);
}

TEST(ProvisionedConfigs, AFailedStartFailsTheConfigWithTheReasonUntilPutAgain) {
  ProvisionedConfigs p;
  p.put("f", "live", 1, "k", "t0");
  auto w = p.next_work();
  p.start_failed(*w, "INIT failed: boom");
  auto c = p.get("f", "live");
  EXPECT_EQ(c->state, ProvisionedStatus::kFailed);
  EXPECT_EQ(c->status_reason, "INIT failed: boom");
  std::optional<ProvisionWork> none;
  std::thread waiter([&] { none = p.next_work(); });
  p.stop();
  waiter.join();
  EXPECT_FALSE(none);
}

TEST(ProvisionedConfigs, AnotherArtifactIsANewGenerationAndTheOldSandboxesAreNotWanted) {
  ProvisionedConfigs p;
  auto first = p.put("f", "live", 1, "f/1/a/", "t0");
  auto w = p.next_work();
  p.started(*w);
  auto same = p.put("f", "live", 1, "f/1/a/", "t1");
  EXPECT_EQ(same.generation, first.generation);
  EXPECT_EQ(same.ready, 1u);
  EXPECT_TRUE(p.still_wanted({"f", "live"}, first.generation));
  auto moved = p.put("f", "live", 1, "f/2/b/", "t2");
  EXPECT_NE(moved.generation, first.generation);
  EXPECT_FALSE(p.still_wanted({"f", "live"}, first.generation));
  EXPECT_EQ(p.next_work()->pool_key, "f/2/b/");
}

TEST(ProvisionedConfigs, FewerAskedForShutsTheSurplusDownAsItComesBack) {
  ProvisionedConfigs p;
  auto c = p.put("f", "1", 2, "k", "t0");
  p.started(*p.next_work());
  p.started(*p.next_work());
  p.put("f", "1", 1, "k", "t1");
  EXPECT_FALSE(p.still_wanted({"f", "1"}, c.generation));  // the surplus one
  EXPECT_TRUE(p.still_wanted({"f", "1"}, c.generation));
  EXPECT_EQ(p.get("f", "1")->state, ProvisionedStatus::kReady);
  EXPECT_TRUE(p.remove("f", "1"));
  EXPECT_FALSE(p.remove("f", "1"));
  EXPECT_FALSE(p.still_wanted({"f", "1"}, c.generation));
}

TEST(ProvisionedConfigs, UsageCountsInvocationsOnItsSandboxesAndSpillovers) {
  ProvisionedConfigs p;
  p.put("f", "live", 1, "k", "t0");
  p.lent({"f", "live"});
  EXPECT_EQ(p.get("f", "live")->usage.in_use, 1u);
  p.spilled_over({"f", "live"});
  p.returned({"f", "live"});
  p.returned({"f", "live"});  // never below zero
  p.lent({"g", "1"});         // no such configuration: nothing counted
  auto c = p.all();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].usage.in_use, 0u);
  EXPECT_EQ(c[0].usage.invocations, 1u);
  EXPECT_EQ(c[0].usage.spillovers, 1u);
}

}  // namespace
}  // namespace thaw::engine
