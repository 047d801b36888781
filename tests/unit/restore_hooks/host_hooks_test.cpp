#include "restore-hooks/host_hooks.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace thaw::hooks {
namespace {

TEST(HostHooks, EveryContextIsFresh) {
  auto a = make_after_restore_context();
  auto b = make_after_restore_context();
  EXPECT_EQ(a.entropy.size(), 64u);
  EXPECT_NE(a.entropy, b.entropy);
  EXPECT_NE(a.sandbox_id, b.sandbox_id);
  EXPECT_NE(a.log_stream_name, b.log_stream_name);
  EXPECT_GT(a.wall_clock_ns, 1'600'000'000LL * 1'000'000'000LL);
}

TEST(HostHooks, SkipEntropyIsADebugSwitch) {
  HostHookOptions o;
  o.skip_entropy = true;
  EXPECT_TRUE(make_after_restore_context(o).entropy.empty());
}

TEST(HostHooks, UuidV4Shape) {
  std::regex re("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto u = new_uuid_v4();
    EXPECT_TRUE(std::regex_match(u, re)) << u;
    seen.insert(u);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(HostHooks, LogStreamNameLikeLambda) {
  // 2026-11-22T00:00:00Z
  auto n = log_stream_name("$LATEST", 1795305600LL * 1'000'000'000LL);
  EXPECT_TRUE(std::regex_match(n, std::regex(R"(^2026/11/22/\[\$LATEST\][0-9a-f]{32}$)"))) << n;
}

}  // namespace
}  // namespace thaw::hooks
