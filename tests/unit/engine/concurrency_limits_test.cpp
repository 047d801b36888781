// Lambda's concurrency rules without sandboxes: reservations, the unreserved pool and its
// minimum, provisioned concurrency counted against both, the burst rate, the memory budget.
#include "engine/concurrency_limits.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "thaw/error.h"

namespace thaw::engine {
namespace {

ConcurrencyConfig config(unsigned account, unsigned minimum) {
  ConcurrencyConfig c;
  c.account_limit = account;
  c.unreserved_minimum = minimum;
  c.burst = 1000;
  return c;
}

// The Reason of the throttle `f` throws; "" when it throws none.
template <typename F>
std::string throttle_reason(F&& f) {
  try {
    f();
  } catch (const EngineError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kThrottled) << e.what();
    EXPECT_GE(e.retry_after_s(), 1u);
    return e.reason();
  }
  return "";
}

TEST(ConcurrencyLimits, ReservedFunctionIsCappedAtItsReservation) {
  ConcurrencyLimits limits(config(10, 2));
  limits.set_reserved("f", 3);
  std::vector<ConcurrencyLimits::Slot> slots;
  for (int i = 0; i < 3; ++i) slots.push_back(limits.admit("f"));
  EXPECT_EQ(limits.in_flight("f"), 3u);
  EXPECT_EQ(throttle_reason([&] { limits.admit("f"); }), "ReservedFunctionConcurrentInvocationLimitExceeded");
  slots.pop_back();  // one finishes
  EXPECT_EQ(throttle_reason([&] { slots.push_back(limits.admit("f")); }), "");
  EXPECT_EQ(limits.in_flight_total(), 3u);
}

TEST(ConcurrencyLimits, ReservationZeroThrottlesEverything) {
  ConcurrencyLimits limits(config(10, 2));
  limits.set_reserved("off", 0);
  EXPECT_EQ(throttle_reason([&] { limits.admit("off"); }), "ReservedFunctionConcurrentInvocationLimitExceeded");
  EXPECT_EQ(limits.in_flight_total(), 0u);
}

TEST(ConcurrencyLimits, UnreservedFunctionsShareWhatReservationsLeave) {
  ConcurrencyLimits limits(config(10, 2));
  limits.set_reserved("big", 6);
  EXPECT_EQ(limits.unreserved_limit(), 4u);
  std::vector<ConcurrencyLimits::Slot> slots;
  for (int i = 0; i < 2; ++i) slots.push_back(limits.admit("a"));
  for (int i = 0; i < 2; ++i) slots.push_back(limits.admit("b"));
  EXPECT_EQ(throttle_reason([&] { limits.admit("a"); }), "ConcurrentInvocationLimitExceeded");
  // The reserved function still has all of its reservation.
  for (int i = 0; i < 6; ++i) slots.push_back(limits.admit("big"));
  EXPECT_EQ(limits.in_flight_total(), 10u);
}

TEST(ConcurrencyLimits, ReservationsNeverTakeTheUnreservedMinimum) {
  ConcurrencyLimits limits(config(10, 2));
  limits.set_reserved("a", 5);
  try {
    limits.set_reserved("b", 4);
    FAIL() << "a reservation past the unreserved minimum was taken";
  } catch (const EngineError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidParameter);
    EXPECT_NE(std::string(e.what()).find("minimum value of [2]"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(limits.reserved("b"));
  limits.set_reserved("b", 3);
  limits.set_reserved("a", 4);  // a function's own reservation is replaced, not added to
  EXPECT_EQ(limits.unreserved_limit(), 3u);
  limits.set_reserved("a", std::nullopt);
  EXPECT_EQ(limits.unreserved_limit(), 7u);
  // Read back at start-up under a smaller account: taken as it is.
  limits.set_reserved("c", 50, false);
  EXPECT_EQ(limits.unreserved_limit(), 0u);
}

TEST(ConcurrencyLimits, ProvisionedCountsAgainstReservedAndAccount) {
  ConcurrencyLimits limits(config(10, 2));
  limits.set_reserved("r", 4);
  EXPECT_THROW(limits.set_provisioned("r", 5), EngineError);
  limits.set_provisioned("r", 3);
  auto one = limits.admit("r");
  EXPECT_EQ(throttle_reason([&] { limits.admit("r"); }), "ReservedFunctionConcurrentInvocationLimitExceeded");
  EXPECT_THROW(limits.set_reserved("r", 2), EngineError);  // under what it has provisioned

  // Unreserved: 6 left; provisioning may take all but the minimum.
  EXPECT_THROW(limits.set_provisioned("u", 5), EngineError);
  limits.set_provisioned("u", 4);
  auto a = limits.admit("v"), b = limits.admit("v");
  EXPECT_EQ(throttle_reason([&] { limits.admit("v"); }), "ConcurrentInvocationLimitExceeded");
  limits.forget("u");
  EXPECT_EQ(throttle_reason([&] { limits.admit("v"); }), "");
}

TEST(ConcurrencyLimits, BurstRefillsOverItsWindow) {
  ConcurrencyConfig c = config(100, 10);
  c.burst = 4;
  c.burst_window = std::chrono::seconds(2);  // 2 tokens a second
  ConcurrencyLimits limits(c);
  auto t0 = ConcurrencyLimits::Clock::now();
  for (int i = 0; i < 4; ++i) limits.take_scale_token("f", t0);
  EXPECT_EQ(throttle_reason([&] { limits.take_scale_token("f", t0); }), "FunctionInvocationRateLimitExceeded");
  limits.take_scale_token("other", t0);  // per function
  limits.take_scale_token("f", t0 + std::chrono::milliseconds(500));  // one token back
  EXPECT_NE(throttle_reason([&] { limits.take_scale_token("f", t0 + std::chrono::milliseconds(500)); }), "");
  for (int i = 0; i < 4; ++i) limits.take_scale_token("f", t0 + std::chrono::seconds(60));  // full, not more
  EXPECT_NE(throttle_reason([&] { limits.take_scale_token("f", t0 + std::chrono::seconds(60)); }), "");
  limits.set_reserved("f", 5);
  EXPECT_EQ(throttle_reason([&] { limits.take_scale_token("f", t0 + std::chrono::seconds(60)); }),
            "ReservedFunctionInvocationRateLimitExceeded");
}

TEST(ConcurrencyLimits, MemoryBudgetHoldsLeasesUntilTheyGo) {
  ConcurrencyConfig c = config(100, 10);
  c.memory_budget_mb = 1024;
  ConcurrencyLimits limits(c);
  auto a = limits.reserve_memory(512);
  ASSERT_TRUE(a);
  {
    auto b = limits.reserve_memory(512);
    ASSERT_TRUE(b);
    EXPECT_FALSE(limits.reserve_memory(128));
    EXPECT_EQ(limits.memory_leases(), 2u);
  }
  EXPECT_EQ(limits.memory_in_use_mb(), 512u);
  auto moved = std::move(*a);
  a.reset();
  EXPECT_EQ(limits.memory_in_use_mb(), 512u);  // a move keeps one lease
  EXPECT_TRUE(limits.reserve_memory(512));
}

}  // namespace
}  // namespace thaw::engine
