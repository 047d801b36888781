// thaw bench peer [--json]: thaw's snapshot restore against QEMU's, on the same KVM, kernel and
// guest. The guest is the test initramfs in its ticks mode (a line on the serial console every
// 5 ms). Each VMM boots it, waits for its first line and saves it: thaw to a page store and a
// machine-state blob, QEMU (-M microvm) with migrate to "exec:cat > FILE". A restore is timed
// from its start to the guest's first line after it resumed: thaw reads the snapshot, maps
// guest memory lazily, installs the working set a first restore recorded and runs; QEMU, started
// beforehand with -incoming defer (so neither side pays for its process start), loads the file
// with migrate-incoming. Medians of --reps runs per guest memory size, the two alternating.
// (Firecracker, the other peer, is not packaged by Debian and cannot be installed here.)
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "cli/bench_stats.h"
#include "cli/commands.h"
#include "cli/qemu_microvm.h"
#include "engine/vmm/machine_state.h"
#include "engine/vmm/vm.h"
#include "guest/image/guest_files.h"
#include "memory/guest_memory.h"
#include "memory/lazy_loader.h"
#include "snapshot/page_store_reader.h"
#include "snapshot/page_store_writer.h"
#include "snapshot/state_blob.h"
#include "snapshot/working_set.h"

namespace thaw::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::string_view kTick = "THAW_TICK";
constexpr const char* kMachineBlob = "machine";

struct BenchPeerOptions {
  std::string kernel, initrd, qemu = "/usr/bin/qemu-system-x86_64", work;
  std::vector<unsigned> memory_mib{256, 2048};
  unsigned reps = 3;
  unsigned timeout_s = 300;
  bool json = false;
  std::chrono::milliseconds limit() const { return std::chrono::seconds(timeout_s); }
};

std::string cmdline() { return std::string(vmm::kDefaultCmdline) + " thaw.test=ticks"; }

void progress(const std::string& what) { std::fprintf(stderr, "bench peer: %s\n", what.c_str()); }

void stop(vmm::Vm& vm) {
  vm.request_stop(vmm::ExitReason::kStopped, "benchmark done");
  vm.wait();
}

// Boots the guest, waits for its first line, and saves it as a thaw snapshot in `dir`.
void thaw_save(const BenchPeerOptions& o, unsigned mib, const fs::path& dir) {
  vmm::VmConfig c;
  c.kernel = o.kernel;
  c.initrd = o.initrd;
  c.cmdline = cmdline();
  c.mem_mib = mib;
  vmm::Vm vm(std::move(c));
  vm.start();
  if (!vm.wait_for_console(kTick, o.limit()))
    throw Error("bench peer: thaw's guest never printed " + std::string(kTick) + "; console:\n" + vm.console_log());
  vm.pause();
  fs::create_directories(dir);
  snapshot::write_state_blob(dir, kMachineBlob, vmm::encode_machine_state(vm.save_state()));
  std::vector<snapshot::GuestRegion> regions;
  for (const auto& r : vm.memory().regions()) regions.push_back({r.guest_addr, r.bytes()});
  snapshot::WriteOptions wo;
  wo.extra_files = {snapshot::state_blob_file_name(kMachineBlob)};
  snapshot::write_page_store(dir, regions, wo);
  stop(vm);
}

// One restore of the snapshot in `dir` to the guest's first line; ms. Without a working set it
// records one (first touch until that line) and saves it for the next.
double thaw_restore(const BenchPeerOptions& o, const fs::path& dir) {
  auto t0 = Clock::now();
  auto working_set = snapshot::load_working_set(dir);
  auto state = vmm::decode_machine_state(snapshot::read_state_blob(dir, kMachineBlob));
  auto pages = snapshot::PageStoreReader::open(dir);
  auto memory = memory::GuestMemory::create(state.mem_bytes);
  memory::LazyLoaderOptions lo;
  lo.record_working_set = !working_set;
  memory::LazyLoader loader(memory, *pages, {}, std::move(lo));
  if (working_set) loader.start_prefetch(*working_set);
  vmm::Vm vm(vmm::VmConfig{}, memory, state);
  if (working_set) {
    loader.wait_prefetch_working_set();
    vm.pre_fault(loader.guest_ranges(*working_set));
  }
  vm.start();
  bool ran = vm.wait_for_console(kTick, o.limit());
  double ms = ms_since(t0);
  stop(vm);
  if (!ran) throw Error("bench peer: thaw's restored guest never printed " + std::string(kTick));
  if (!working_set) snapshot::save_working_set(dir, loader.stop_recording());
  return ms;
}

QemuMicrovmConfig qemu_config(const BenchPeerOptions& o, unsigned mib, const fs::path& sockets) {
  return {o.qemu, o.kernel, o.initrd, cmdline(), mib, sockets};
}

void qemu_save(const BenchPeerOptions& o, unsigned mib, const fs::path& sockets, const fs::path& file) {
  QemuMicrovm vm(qemu_config(o, mib, sockets), false, o.limit());
  if (!vm.wait_for_serial(kTick, o.limit()))
    throw Error("bench peer: QEMU's guest never printed " + std::string(kTick) + "; serial:\n" + vm.serial_output() +
                "\nQEMU's log:\n" + vm.log_tail());
  vm.save(file, o.limit());
}

double qemu_restore(const BenchPeerOptions& o, unsigned mib, const fs::path& sockets, const fs::path& file) {
  QemuMicrovm vm(qemu_config(o, mib, sockets), true, o.limit());
  auto t0 = Clock::now();
  vm.restore_from(file);
  bool ran = vm.wait_for_serial(kTick, o.limit());
  double ms = ms_since(t0);
  if (!ran)
    throw Error("bench peer: QEMU's restored guest never printed " + std::string(kTick) + "; QEMU's log:\n" +
                vm.log_tail());
  return ms;
}

uint64_t bytes_under(const fs::path& p) {
  if (fs::is_regular_file(p)) return fs::file_size(p);
  uint64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(p))
    if (e.is_regular_file()) n += e.file_size();
  return n;
}

struct SizeResult {
  Series thaw, qemu;
  uint64_t thaw_bytes = 0, qemu_bytes = 0;
};

SizeResult measure_size(const BenchPeerOptions& o, unsigned mib, const fs::path& work) {
  const std::string label = std::to_string(mib) + " MiB";
  fs::path snap = work / ("thaw-" + std::to_string(mib)), file = work / ("qemu-" + std::to_string(mib) + ".state");
  // QEMU's sockets where a Unix socket can live (not on a 9p export).
  char tmpl[] = "/tmp/thaw-bench-peer.XXXXXX";
  if (!::mkdtemp(tmpl)) throw_errno("mkdtemp", tmpl);
  fs::path sockets = tmpl;
  SizeResult r;
  progress(label + ": saving with thaw and QEMU");
  thaw_save(o, mib, snap);
  qemu_save(o, mib, sockets, file);
  r.thaw_bytes = bytes_under(snap);
  r.qemu_bytes = bytes_under(file);
  thaw_restore(o, snap);  // records the working set
  for (unsigned i = 0; i < o.reps; ++i) {
    progress(label + ": restore " + std::to_string(i + 1) + "/" + std::to_string(o.reps));
    r.thaw.v.push_back(thaw_restore(o, snap));
    r.qemu.v.push_back(qemu_restore(o, mib, sockets, file));
  }
  fs::remove_all(sockets);
  return r;
}

void print(const std::map<unsigned, SizeResult>& results, const BenchPeerOptions& o) {
  if (o.json) {
    nlohmann::ordered_json j, t = nlohmann::ordered_json::object(), q = t, ratio = t, runs = t, bytes = t;
    for (const auto& [mib, r] : results) {
      auto k = std::to_string(mib);
      t[k] = r.thaw.median();
      q[k] = r.qemu.median();
      ratio[k] = r.qemu.median() / r.thaw.median();
      runs[k] = {{"thaw", r.thaw.v}, {"qemu", r.qemu.v}};
      bytes[k] = {{"thaw", r.thaw_bytes}, {"qemu", r.qemu_bytes}};
    }
    j["thaw_restore_ms"] = t;
    j["qemu_restore_ms"] = q;
    j["qemu_over_thaw"] = ratio;
    j["runs_ms"] = runs;
    j["saved_bytes"] = bytes;
    j["reps"] = o.reps;
    j["peer"] = "qemu -M microvm, migrate exec: / migrate-incoming";
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("restore to the guest's first output after resume: medians of %u (min..max), ms\n", o.reps);
  std::printf("%8s %24s %24s %10s %12s %12s\n", "memory", "thaw", "qemu microvm", "qemu/thaw", "thaw saved", "qemu saved");
  for (const auto& [mib, r] : results) {
    char t[64], q[64];
    std::snprintf(t, sizeof t, "%.1f (%.0f..%.0f)", r.thaw.median(), r.thaw.min(), r.thaw.max());
    std::snprintf(q, sizeof q, "%.1f (%.0f..%.0f)", r.qemu.median(), r.qemu.min(), r.qemu.max());
    std::printf("%5u MiB %24s %24s %9.1fx %9.1f MiB %9.1f MiB\n", mib, t, q, r.qemu.median() / r.thaw.median(),
                r.thaw_bytes / 1048576.0, r.qemu_bytes / 1048576.0);
  }
  std::printf("(Firecracker is not packaged by Debian and cannot be installed here.)\n");
}

int run_bench_peer(const BenchPeerOptions& o) {
  fs::path work = o.work;
  fs::remove_all(work);
  fs::create_directories(work);
  std::map<unsigned, SizeResult> results;
  for (unsigned mib : o.memory_mib) results[mib] = measure_size(o, mib, work);
  print(results, o);
  fs::remove_all(work);
  return 0;
}

// Before the command moves into the emulated KVM host, so a missing file is said at once.
void check_inputs(const BenchPeerOptions& o) {
  if (o.kernel.empty())
    throw Error("bench peer: no kernel: /boot has no vmlinuz-*; pass --kernel BZIMAGE, or install one "
                "(apt-get install linux-image-amd64)");
  if (!fs::is_regular_file(o.initrd))
    throw Error("bench peer: no initramfs at " + o.initrd + ": build it with `cmake --build " + exe_dir().string() +
                " --target thaw_test_initramfs`, or pass --initrd FILE");
  if (::access(o.qemu.c_str(), X_OK) != 0)
    throw Error("bench peer: no QEMU at " + o.qemu + " (apt-get install qemu-system-x86), or pass --qemu PATH");
}

}  // namespace

Command add_bench_peer_command(CLI::App& app) {
  CLI::App* bench = bench_group(app);
  auto* sub = bench->add_subcommand("peer", "snapshot restore: thaw vs QEMU microvm (migrate to a file) on the same KVM");
  auto o = std::make_shared<BenchPeerOptions>();
  try {
    o->kernel = image::newest_kernel();
  } catch (const Error&) {
  }
  o->initrd = (exe_dir() / "test-initramfs.cpio.gz").string();
  o->work = (exe_dir() / "bench-peer").string();
  sub->add_option("--memory", o->memory_mib, "guest memory sizes (MiB)")->capture_default_str()->delimiter(',');
  sub->add_option("--reps", o->reps, "restores of each VMM per size")->capture_default_str()->check(CLI::Range(1, 100));
  sub->add_option("--kernel", o->kernel, "bzImage (default: the newest /boot/vmlinuz-*)")->capture_default_str();
  sub->add_option("--initrd", o->initrd, "the test initramfs (its ticks mode)")->capture_default_str();
  sub->add_option("--qemu", o->qemu, "QEMU binary")->capture_default_str();
  sub->add_option("--work", o->work, "directory for the saved VMs (removed afterwards)")->capture_default_str();
  sub->add_option("--timeout", o->timeout_s, "seconds allowed per boot, save or restore")->capture_default_str();
  sub->add_flag("--json", o->json,
                "print one JSON object: thaw_restore_ms and qemu_restore_ms keyed by MiB, qemu_over_thaw, runs");
  return {sub, true, [o] { return run_bench_peer(*o); }, [o] { check_inputs(*o); }};
}

}  // namespace thaw::cli
