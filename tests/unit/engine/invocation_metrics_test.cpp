// Per-version invocation counts and duration distributions as invocations end.
#include <gtest/gtest.h>

#include "engine/invocation_metrics.h"

namespace thaw::engine {
namespace {

InvokeResult ran(const std::string& version, double ms, StartKind start, bool error = false) {
  InvokeResult r;
  r.executed_version = version;
  r.report.duration_ms = ms;
  r.report.start = start;
  if (start == StartKind::kCold) r.report.init_duration_ms = 800;
  if (start == StartKind::kRestored) r.report.restore_duration_ms = 40;
  if (error) r.function_error = "Unhandled";
  return r;
}

TEST(InvocationMetrics, CountsPerVersionWithErrorsThrottlesAndStarts) {
  InvocationMetrics m;
  m.invoked("f", ran("$LATEST", 3, StartKind::kCold));
  m.invoked("f", ran("$LATEST", 0.5, StartKind::kWarm, true));
  m.invoked("f", ran("1", 7, StartKind::kRestored));
  m.throttled("f", "1");
  m.failed_to_start("f", "1");
  m.invoked("g", ran("$LATEST", 2000, StartKind::kWarm));
  auto s = m.snapshot();
  ASSERT_EQ(s.size(), 3u);
  const auto& latest = s[0];
  EXPECT_EQ(latest.function + ":" + latest.version, "f:$LATEST");
  EXPECT_EQ(latest.invocations, 2u);
  EXPECT_EQ(latest.errors, 1u);
  EXPECT_EQ(latest.duration_ms.count, 2u);
  EXPECT_DOUBLE_EQ(latest.duration_ms.sum, 3.5);
  EXPECT_EQ(latest.init_duration_ms.count, 1u);
  EXPECT_EQ(latest.restore_duration_ms.count, 0u);
  const auto& one = s[1];
  EXPECT_EQ(one.invocations, 2u);  // the one that ran and the one whose INIT failed
  EXPECT_EQ(one.errors, 1u);
  EXPECT_EQ(one.throttles, 1u);
  EXPECT_EQ(one.duration_ms.count, 1u);  // no duration for a sandbox that never started
  EXPECT_EQ(one.restore_duration_ms.count, 1u);
  m.forget("f");
  ASSERT_EQ(m.snapshot().size(), 1u);
  EXPECT_EQ(m.snapshot()[0].function, "g");
}

TEST(InvocationMetrics, ObservationsLandInTheFirstBucketThatHoldsThem) {
  Distribution d = empty_distribution();
  ASSERT_EQ(d.counts.size(), d.upper_bounds.size() + 1);
  observe(d, 1);          // on a bound: that bucket (le="1")
  observe(d, 1.5);        // (1, 2]
  observe(d, 1e7);        // beyond 15 minutes: the last, unbounded one
  EXPECT_EQ(d.counts[0], 1u);
  EXPECT_EQ(d.counts[1], 1u);
  EXPECT_EQ(d.counts.back(), 1u);
  EXPECT_EQ(d.count, 3u);
}

}  // namespace
}  // namespace thaw::engine
