// thaw boot --kernel K --initrd I [--cmdline C] [--mem MiB] [--vcpus N] [--timeout S]:
// boots a microVM, streams its serial console to stdout (and stdin to it), exits with the VM.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "base/error.h"
#include "base/unique_fd.h"
#include "cli/commands.h"
#include "engine/vmm/vm.h"

namespace thaw::cli {
namespace {

struct BootOptions {
  std::string kernel, initrd, cmdline{vmm::kDefaultCmdline};
  uint64_t mem_mib = 256;
  unsigned vcpus = 1;
  double timeout_s = 0;
};

int exit_status(vmm::ExitReason r) {
  switch (r) {
    case vmm::ExitReason::kPowerOff:
    case vmm::ExitReason::kReboot:
    case vmm::ExitReason::kStopped: return 0;
    case vmm::ExitReason::kPanic: return 2;
    case vmm::ExitReason::kTripleFault: return 3;
    case vmm::ExitReason::kInternalError: return 4;
    case vmm::ExitReason::kTimeout: return 124;
  }
  return 1;
}

int run_boot(const BootOptions& o) {
  vmm::VmConfig cfg;
  cfg.kernel = o.kernel;
  cfg.initrd = o.initrd;
  cfg.cmdline = o.cmdline;
  cfg.mem_mib = o.mem_mib;
  cfg.vcpus = o.vcpus;
  cfg.timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
  cfg.console = [](uint8_t b) { [[maybe_unused]] ssize_t n = ::write(STDOUT_FILENO, &b, 1); };
  vmm::Vm vm(std::move(cfg));

  // Terminal input -> serial, until EOF or the VM ends.
  UniqueFd stop_fd(::eventfd(0, EFD_CLOEXEC));
  if (!stop_fd) throw_errno("eventfd", "boot input");
  std::thread input([&] {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {stop_fd.get(), POLLIN, 0}};
    uint8_t buf[256];
    while (::poll(fds, 2, -1) >= 0 || errno == EINTR) {
      if (fds[1].revents) return;
      if (!fds[0].revents) continue;
      ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n <= 0) return;
      vm.serial_input({buf, static_cast<size_t>(n)});
    }
  });
  vmm::VmExit e = vm.run();
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(stop_fd.get(), &one, sizeof one);
  input.join();
  std::fprintf(stderr, "\nthaw: VM ended: %s (%s)\n", std::string(vmm::to_string(e.reason)).c_str(), e.detail.c_str());
  return exit_status(e.reason);
}

}  // namespace

Command add_boot_command(CLI::App& app) {
  auto* sub = app.add_subcommand("boot", "boot a kernel and initramfs in a microVM; stream its serial console");
  auto o = std::make_shared<BootOptions>();
  sub->add_option("--kernel", o->kernel, "bzImage (e.g. /boot/vmlinuz-*)")->required();
  sub->add_option("--initrd", o->initrd, "initramfs (cpio, may be compressed)");
  sub->add_option("--cmdline", o->cmdline, "kernel command line")->capture_default_str();
  sub->add_option("--mem", o->mem_mib, "guest memory in MiB (64..3072)")->capture_default_str();
  sub->add_option("--vcpus", o->vcpus, "vCPUs (1..32)")->capture_default_str();
  sub->add_option("--timeout", o->timeout_s, "stop the VM after this many seconds (0: never)")->capture_default_str();
  return {sub, true, [o] { return run_boot(*o); }};
}

}  // namespace thaw::cli
