// What provides /dev/kvm, read from a stand-in /sys/module: only hardware virtualisation runs
// thaw's guests; PVM is named as the reason when it is all there is.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <initializer_list>
#include <string>

#include "engine/vmm/kvm.h"

namespace thaw::vmm {
namespace {

namespace fs = std::filesystem;

class KvmBackingTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(testing::TempDir()) / ("kvm-backing-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void load(std::initializer_list<const char*> modules) {
    for (const char* m : modules) fs::create_directories(dir_ / m / "parameters");
  }
  fs::path dir_;
};

TEST_F(KvmBackingTest, AVendorModuleIsHardwareEvenBesidePvm) {
  load({"kvm", "kvm_amd"});
  EXPECT_EQ(kvm_backing(dir_), KvmBacking::kHardware);
  load({"kvm_pvm"});
  EXPECT_EQ(kvm_backing(dir_), KvmBacking::kHardware);
  fs::remove_all(dir_ / "kvm_amd");
  load({"kvm_intel"});
  EXPECT_EQ(kvm_backing(dir_), KvmBacking::kHardware);
  EXPECT_EQ(kvm_backing_problem(KvmBacking::kHardware), "");
}

TEST_F(KvmBackingTest, PvmAloneIsRefusedWithTheReasonAndTheWayOut) {
  load({"kvm", "kvm_pvm"});
  ASSERT_EQ(kvm_backing(dir_), KvmBacking::kPvm);
  std::string why = kvm_backing_problem(KvmBacking::kPvm);
  EXPECT_NE(why.find("PVM"), std::string::npos) << why;
  EXPECT_NE(why.find("--kvm emulated"), std::string::npos) << why;
}

TEST_F(KvmBackingTest, NoVendorModuleIsUnknownAndLeftToOpenToJudge) {
  load({"kvm"});
  EXPECT_EQ(kvm_backing(dir_), KvmBacking::kUnknown);
  EXPECT_EQ(kvm_backing(dir_ / "missing"), KvmBacking::kUnknown);
  EXPECT_EQ(kvm_backing_problem(KvmBacking::kUnknown), "");
}

}  // namespace
}  // namespace thaw::vmm
