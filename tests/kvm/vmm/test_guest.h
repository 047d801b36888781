#pragma once
// The test guest of the vmm kvm tests: Debian's kernel and thaw's test initramfs, whose init
// does what thaw.test=<mode> on the command line says (guest/test-initramfs/init).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "base/error.h"
#include "engine/vmm/vm.h"
#include "guest/image/guest_files.h"

namespace thaw::vmm {

using namespace std::chrono_literals;

inline std::string kernel_path() {
  const char* k = std::getenv("THAW_TEST_KERNEL");
  return k ? k : image::newest_kernel();
}

inline std::string initrd_path() {
  std::string path = std::string(THAW_BINARY_DIR) + "/test-initramfs.cpio.gz";
  if (!std::filesystem::exists(path)) {
    std::string cmd = std::string(THAW_SOURCE_DIR) + "/guest/build-test-initramfs.sh " + path;
    if (std::system(cmd.c_str()) != 0) throw Error("cannot build " + path);
  }
  return path;
}

inline VmConfig config(const std::string& mode, unsigned vcpus = 1, std::chrono::milliseconds timeout = 300s) {
  VmConfig c;
  c.kernel = kernel_path();
  c.initrd = initrd_path();
  c.cmdline = std::string(kDefaultCmdline) + " thaw.test=" + mode;
  c.vcpus = vcpus;
  c.mem_mib = 256;
  c.timeout = timeout;  // generous: the emulated host is slow; only a hung guest reaches it
  return c;
}

// The next line the guest wrote to the channel (without its newline); "" on timeout or once
// the machine has ended with no line left.
inline std::string read_channel_line(Vm& vm, std::string& buffered, std::chrono::milliseconds timeout = 300s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t nl;
  while ((nl = buffered.find('\n')) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    // Checked before the read: what a guest wrote just before it ended is still in the channel.
    bool ended = vm.exited();
    uint8_t buf[4096];
    size_t n = vm.channel().read(buf, ended || left.count() <= 0 ? 0ms : std::min<std::chrono::milliseconds>(left, 1s));
    buffered.append(reinterpret_cast<char*>(buf), n);
    if (n == 0 && (ended || left.count() <= 0)) return {};
  }
  std::string line = buffered.substr(0, nl);
  buffered.erase(0, nl + 1);
  return line;
}

}  // namespace thaw::vmm
