// thaw bench boot [--json] [--reps N]: boot-to-init time of thaw's microVM and of QEMU's
// (-enable-kvm -M microvm) on the same kernel, initramfs and command line, alternating runs on
// the same KVM; prints medians and their ratio. Boot-to-init = from the start of VM creation
// (thaw) or of the QEMU process to the init's marker on the serial console. By default the
// newest /boot/vmlinuz-* and the build's test initramfs (next to the thaw binary).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "cli/bench_stats.h"
#include "cli/commands.h"
#include "engine/vmm/vm.h"
#include "guest/image/guest_files.h"

namespace thaw::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchBootOptions {
  std::string kernel, initrd, cmdline, qemu = "qemu-system-x86_64", marker = "THAW_INIT_MARKER";
  uint64_t mem_mib = 256;
  unsigned reps = 3;
  double timeout_s = 120;
  bool json = false;
};


double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double boot_thaw(const BenchBootOptions& o) {
  auto t0 = Clock::now();
  vmm::VmConfig cfg;
  cfg.kernel = o.kernel;
  cfg.initrd = o.initrd;
  cfg.cmdline = o.cmdline;
  cfg.mem_mib = o.mem_mib;
  vmm::Vm vm(std::move(cfg));
  vm.start();
  bool seen = vm.wait_for_console(o.marker, std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000)));
  double ms = ms_since(t0);
  vm.request_stop(vmm::ExitReason::kStopped, "benchmark done");
  vmm::VmExit e = vm.wait();
  if (!seen)
    throw Error("bench boot: thaw's guest never printed " + o.marker + " (VM ended: " +
                std::string(vmm::to_string(e.reason)) + ", " + e.detail + "); console:\n" + vm.console_log());
  return ms;
}

double boot_qemu(const BenchBootOptions& o) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) < 0) throw_errno("pipe2", "qemu serial");
  UniqueFd rd(pipe_fds[0]), wr(pipe_fds[1]);
  std::vector<std::string> args{o.qemu,     "-M",      "microvm",        "-enable-kvm", "-cpu",     "host",
                                "-m",       std::to_string(o.mem_mib),   "-smp",        "1",        "-kernel",
                                o.kernel,   "-initrd", o.initrd,         "-append",     o.cmdline,  "-nodefaults",
                                "-no-user-config", "-display", "none",   "-serial",     "stdio",    "-no-reboot"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  auto t0 = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", "qemu");
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, STDIN_FILENO);
    ::dup2(wr.get(), STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  wr.reset();
  std::string out;
  bool seen = false;
  auto deadline = t0 + std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
  char buf[4096];
  while (!seen && Clock::now() < deadline) {
    pollfd p{rd.get(), POLLIN, 0};
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
    ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    seen = out.find(o.marker) != std::string::npos;
  }
  double ms = ms_since(t0);
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!seen) throw Error("bench boot: QEMU's guest never printed " + o.marker + " (is " + o.qemu + " installed?); output:\n" + out);
  return ms;
}

// The build's test initramfs: its init prints the marker, then powers off (thaw.test=poweroff).
std::filesystem::path default_initrd() { return exe_dir() / "test-initramfs.cpio.gz"; }

std::string default_kernel() {
  try {
    return image::newest_kernel();
  } catch (const Error&) {
    return "";  // check_inputs says what to do
  }
}

// Before the command moves into the emulated KVM host, so a missing file is said at once.
void check_inputs(const BenchBootOptions& o) {
  if (o.reps == 0) throw Error("bench boot: --reps must be at least 1");
  if (o.kernel.empty())
    throw Error("bench boot: no kernel: /boot has no vmlinuz-*; pass --kernel BZIMAGE, or install one "
                "(apt-get install linux-image-amd64)");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(o.initrd, ec)) {
    if (o.initrd != default_initrd().string()) throw Error("bench boot: --initrd " + o.initrd + ": no such file");
    throw Error("bench boot: no initramfs: " + o.initrd + " is missing; build it with `cmake --build " +
                exe_dir().string() + " --target thaw_test_initramfs` (needs /bin/busybox: apt-get install "
                "busybox-static), or pass --initrd FILE");
  }
}

int run_bench_boot(BenchBootOptions o) {
  std::vector<double> thaw_ms, qemu_ms;
  for (unsigned i = 0; i < o.reps; ++i) {  // alternate, so drift hits both alike
    thaw_ms.push_back(boot_thaw(o));
    qemu_ms.push_back(boot_qemu(o));
  }
  double t = median(thaw_ms), q = median(qemu_ms);
  if (o.json) {
    nlohmann::json j{{"thaw_boot_ms", t}, {"qemu_boot_ms", q}, {"ratio", t / q},   {"reps", o.reps},
                     {"thaw_runs_ms", thaw_ms}, {"qemu_runs_ms", qemu_ms}, {"kernel", o.kernel},
                     {"initrd", o.initrd}, {"cmdline", o.cmdline}, {"mem_mib", o.mem_mib}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    auto runs = [](const std::vector<double>& v) {
      std::string s;
      for (double x : v) s += (s.empty() ? "" : ", ") + std::to_string(static_cast<long>(x));
      return s;
    };
    std::printf("boot-to-init (median of %u)\n", o.reps);
    std::printf("  thaw          %10.1f ms   (%s)\n", t, runs(thaw_ms).c_str());
    std::printf("  qemu microvm  %10.1f ms   (%s)\n", q, runs(qemu_ms).c_str());
    std::printf("  ratio thaw/qemu  %.3f\n", t / q);
  }
  return 0;
}

}  // namespace

Command add_bench_boot_command(CLI::App& app) {
  CLI::App* bench = bench_group(app);
  auto* sub = bench->add_subcommand("boot", "boot-to-init time: thaw vs QEMU microvm on the same KVM");
  auto o = std::make_shared<BenchBootOptions>();
  o->cmdline = std::string(vmm::kDefaultCmdline) + " thaw.test=poweroff";
  o->kernel = default_kernel();
  o->initrd = default_initrd().string();
  sub->add_option("--kernel", o->kernel,
                  o->kernel.empty() ? "bzImage (default: the newest /boot/vmlinuz-*; there is none)"
                                    : "bzImage (default: the newest /boot/vmlinuz-*)")
      ->capture_default_str();
  sub->add_option("--initrd", o->initrd,
                  "initramfs whose init prints the marker first (default: the build's test initramfs, "
                  "target thaw_test_initramfs)")
      ->capture_default_str();
  sub->add_option("--cmdline", o->cmdline, "kernel command line (both VMMs)")->capture_default_str();
  sub->add_option("--marker", o->marker, "text the init prints on the serial console")->capture_default_str();
  sub->add_option("--mem", o->mem_mib, "guest memory in MiB")->capture_default_str();
  sub->add_option("--reps", o->reps, "boots of each")->capture_default_str();
  sub->add_option("--qemu", o->qemu, "QEMU binary")->capture_default_str();
  sub->add_option("--timeout", o->timeout_s, "seconds allowed per boot")->capture_default_str();
  sub->add_flag("--json", o->json, "print one JSON object (thaw_boot_ms, qemu_boot_ms, ratio, runs)");
  return {sub, true, [o] { return run_bench_boot(*o); }, [o] { check_inputs(*o); }};
}

}  // namespace thaw::cli
