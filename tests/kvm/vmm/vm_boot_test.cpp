// The real microVM on /dev/kvm (inside the emulated KVM host on machines without one).
// Boots are slow there (tens of seconds each), so each test groups its checks into one boot.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/vmm/vm.h"
#include "tests/kvm/vmm/test_guest.h"

namespace thaw::vmm {
namespace {

using namespace std::chrono_literals;

TEST(VmBoot, BadKernelFilesGiveClearErrors) {
  auto with_kernel = [](const std::string& kernel) {
    VmConfig c = config("poweroff");
    c.kernel = kernel;
    return c;
  };
  EXPECT_THROW({ Vm vm(with_kernel("/nonexistent/vmlinuz")); }, SystemError);
  try {
    Vm vm(with_kernel("/etc/hostname"));  // not a bzImage
    FAIL() << "a text file booted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/etc/hostname"), std::string::npos) << e.what();
  }
  // A truncated copy of the real kernel.
  std::string truncated = testing::TempDir() + "/vmlinuz-truncated";
  std::filesystem::copy_file(kernel_path(), truncated, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(truncated, 64 * 1024);
  try {
    Vm vm(with_kernel(truncated));
    FAIL() << "a truncated kernel booted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  std::filesystem::remove(truncated);
}

// One boot: init marker on the serial console, 1 MiB through the virtio-console channel and
// back byte-exact, then the guest powers off.
TEST(VmBoot, OneVcpuEchoesOneMiBThroughTheChannelThenPowersOff) {
  constexpr size_t kPayload = 1 << 20;
  Vm vm(config("echo:" + std::to_string(kPayload)));
  vm.start();
  ASSERT_TRUE(vm.wait_for_console("THAW_INIT_MARKER", 300s)) << vm.console_log();
  EXPECT_TRUE(vm.wait_for_console("THAW_CPUS=1", 60s)) << vm.console_log();

  std::string ready;
  std::vector<uint8_t> buf(kPayload);
  while (ready.find("READY\n") == std::string::npos) {
    size_t n = vm.channel().read(buf, 300s);
    ASSERT_GT(n, 0u) << "no READY on the channel; console:\n" << vm.console_log();
    ready.append(reinterpret_cast<char*>(buf.data()), n);
  }
  ASSERT_EQ(ready, "READY\n");

  std::vector<uint8_t> payload(kPayload);
  std::mt19937_64 rng(42);
  for (auto& b : payload) b = static_cast<uint8_t>(rng());
  vm.channel().write(payload);
  std::vector<uint8_t> echoed;
  while (echoed.size() < kPayload) {
    size_t n = vm.channel().read(buf, 300s);
    ASSERT_GT(n, 0u) << "echo stalled after " << echoed.size() << " bytes; console:\n" << vm.console_log();
    echoed.insert(echoed.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n));
  }
  EXPECT_EQ(echoed.size(), kPayload);
  EXPECT_TRUE(echoed == payload) << "echoed bytes differ";

  VmExit e = vm.wait();
  EXPECT_EQ(e.reason, ExitReason::kPowerOff) << e.detail << "\n" << vm.console_log();
  EXPECT_NE(vm.console_log().find("THAW_ECHO_DONE"), std::string::npos);
  EXPECT_EQ(vm.channel().bytes_to_guest(), kPayload);
  EXPECT_EQ(vm.channel().bytes_from_guest(), kPayload + 6);
}

TEST(VmBoot, TwoVcpusBootAndReboot) {
  Vm vm(config("reboot", 2));
  VmExit e = vm.run();
  EXPECT_EQ(e.reason, ExitReason::kReboot) << e.detail << "\n" << vm.console_log();
  std::string log = vm.console_log();
  EXPECT_NE(log.find("THAW_INIT_MARKER"), std::string::npos) << log;
  EXPECT_NE(log.find("THAW_CPUS=2"), std::string::npos) << log;
}

TEST(VmBoot, KernelPanicEndsTheVmAsPanic) {
  Vm vm(config("panic"));
  VmExit e = vm.run();
  EXPECT_EQ(e.reason, ExitReason::kPanic) << e.detail << "\n" << vm.console_log();
}

// A guest that spins forever after init is stopped by the host-side timeout; every thread is
// joined and every fd closed (checked by counting this process's fds before and after).
TEST(VmBoot, HungGuestIsKilledByTheTimeoutWithoutLeaks) {
  auto count_fds = [] {
    size_t n = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  size_t before = count_fds();
  {
    Vm vm(config("hang", 1, 30s));  // the boot to the marker takes ~10 s on a software CPU
    VmExit e = vm.run();
    EXPECT_EQ(e.reason, ExitReason::kTimeout) << e.detail;
    EXPECT_NE(vm.console_log().find("THAW_INIT_MARKER"), std::string::npos) << vm.console_log();
  }
  EXPECT_EQ(count_fds(), before);
}

}  // namespace
}  // namespace thaw::vmm
