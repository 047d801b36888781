#include "engine/vmm_cgroup.h"

#include <gtest/gtest.h>

namespace thaw::engine {
namespace {

// Lambda's table (../shared/reference): 1,769 MB is one full vCPU, the share is linear in
// memory, and a function gets 1 to 6 vCPUs.
TEST(LambdaLimits, CpuShareIsLinearInMemoryWithOneVcpuAt1769Mb) {
  auto at = [](uint32_t mb) { return lambda_limits(mb, 1.0); };
  EXPECT_EQ(at(1769).cpu_quota_us, 100'000u);
  EXPECT_EQ(at(1769).vcpus, 1u);
  EXPECT_EQ(at(128).cpu_quota_us, 7'236u);  // 0.072 vCPU
  EXPECT_EQ(at(128).vcpus, 1u);
  EXPECT_EQ(at(1770).vcpus, 2u) << "one MB over a full vCPU gives access to a second";
  EXPECT_EQ(at(3538).cpu_quota_us, 200'000u);
  EXPECT_EQ(at(3538).vcpus, 2u);
  EXPECT_EQ(at(10240).vcpus, 6u);
  EXPECT_EQ(at(10240).cpu_quota_us, 578'858u);
  for (auto mb : {128u, 1769u, 10240u}) EXPECT_EQ(at(mb).cpu_period_us, 100'000u);
}

TEST(LambdaLimits, MemoryMaxIsTheGuestsMemoryPlusTheVmmsOverhead) {
  EXPECT_EQ(lambda_limits(128, 1.0).memory_max_bytes, (uint64_t{128} << 20) + kVmmMemoryOverhead);
  EXPECT_EQ(lambda_limits(10240, 1.0).memory_max_bytes, (uint64_t{10240} << 20) + kVmmMemoryOverhead);
}

TEST(LambdaLimits, CpuScaleMultipliesTheShareAndZeroLiftsTheLimit) {
  EXPECT_EQ(lambda_limits(1769, 0.5).cpu_quota_us, 50'000u);
  EXPECT_EQ(lambda_limits(1769, 0.0).cpu_quota_us, 0u);
  EXPECT_EQ(lambda_limits(1769, 0.0).vcpus, 1u) << "the vCPU count does not depend on the scale";
  EXPECT_EQ(lambda_limits(128, 0.001).cpu_quota_us, 1'000u) << "the kernel's smallest quota";
}

}  // namespace
}  // namespace thaw::engine
