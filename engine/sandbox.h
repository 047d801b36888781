#pragma once
// A sandbox: one function's microVM and the host end of its channel. It boots the function's
// image, runs INIT (the runtime's first invocation/next ends it), then serves invocations one
// at a time, as Lambda does: each invocation has its deadline; a timeout, a runtime crash or a
// broken channel discards the sandbox (the VM is torn down), never the engine.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "engine/console_lines.h"
#include "engine/vmm/net/token_bucket.h"
#include "engine/report.h"
#include "engine/restore_phases.h"
#include "guest/image/function_config.h"
#include "memory/guest_memory.h"
#include "memory/lazy_loader.h"
#include "memory/restore_stats.h"
#include "memory/shared_image.h"
#include "restore-hooks/host_hooks.h"
#include "channel/messages.h"
#include "snapshot/page_store_writer.h"

namespace thaw::vmm {
class Vm;
struct VmShell;
}
namespace thaw::snapshot {
class PageStoreReader;
}

namespace thaw::engine {

// The function's INIT failed or timed out, or its sandbox could not be started. error_type is
// Lambda's (Runtime.ExitError, Runtime.ImportModuleError, Sandbox.Timedout ...).
class SandboxError : public Error {
 public:
  SandboxError(std::string error_type, std::string message, std::string body = {})
      : Error(message), error_type_(std::move(error_type)), body_(std::move(body)) {}
  const std::string& error_type() const { return error_type_; }
  // The runtime's own error JSON when it sent one (passed through unchanged).
  const std::string& body() const { return body_; }

 private:
  std::string error_type_, body_;
};

// A sandbox's network card: what it plugs into is the host's (engine/net/sandbox_network.h);
// the guest is numbered as every sandbox's guest is (engine/net/guest_link.h).
struct SandboxNic {
  int tap_fd = -1;             // borrowed: the sandbox takes a duplicate
  vmm::NetRateLimit tx_limit;  // outbound; none by default
};

struct SandboxOptions {
  // The function's stdout/stderr lines and the platform's START/END/REPORT lines.
  std::function<void(std::string_view line)> log;
  // Guest kernel console lines (boot messages, agent failures); empty: discarded.
  std::function<void(std::string_view line)> console;
  unsigned vcpus = 1;
  // Time allowed for the kernel and agent to come up, on top of the INIT budget. Generous by
  // default: under software emulation a kernel boot alone takes ~10 s.
  std::chrono::milliseconds boot_allowance{120'000};
  // INIT's budget; zero: the image's (its function config's init_timeout_s).
  std::chrono::milliseconds init_timeout{0};
  // "on-demand", "snap-start" or "provisioned-concurrency" (AWS_LAMBDA_INITIALIZATION_TYPE; the
  // last one's first invocation reports no INIT or restore: they ran ahead of it).
  std::string initialization_type = "on-demand";
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  // The version the sandbox runs (AWS_LAMBDA_FUNCTION_VERSION, the START line).
  std::string function_version = "$LATEST";

  // Pause the vCPUs between invocations, as Lambda freezes its sandboxes: the guest's timers
  // and background threads run only while an invocation does.
  bool freeze_between_invocations = true;
  // Restores: prefetch the snapshot's recorded working set when it has one; record one on a
  // restore of a snapshot that has none (saved next to it when the first invocation returns).
  bool prefetch = true;
  bool record_working_set = true;
  // After the working set, load the rest of memory in the background at low priority.
  bool background_load = false;
  // Install the whole working set before the vCPUs resume (REAP's order), instead of letting
  // the guest run while it streams in and fault on what is not there yet. Measured with
  // `thaw bench coldstart` (both orders side by side): before resume was the faster of the two,
  // since a guest that runs early only waits on its own faults meanwhile.
  bool working_set_before_resume = true;
  // Once the working set is in (before resume), map it into KVM's stage 2 too
  // (KVM_PRE_FAULT_MEMORY, Linux 6.11+), so the resumed guest takes no exits for it; skipped
  // where the host kernel lacks it. Measured with `thaw bench coldstart` (with and without).
  bool stage2_prefault = true;
  // A clone that maps a snapshot's shared copy: copy the pages the first such clone wrote
  // (written_pages.bin) into its own memory before resume, rather than one copy-on-write
  // fault at a time inside the first invocation (memory/private_writes.h).
  bool copy_written_pages = true;
  hooks::HostHookOptions hooks;  // hooks.skip_entropy is a debug option (see host_hooks.h)
  // Restore plus the runtime's after-restore hooks (Lambda gives them 10 s).
  std::chrono::milliseconds restore_budget{10'000};
  // SnapStart checkpoints: the guest waits until it has been up this long before it is paused.
  // The kernel reseeds its CRNG by itself no sooner than its uptime at the checkpoint has
  // passed again (see guest/agent/host_link.cpp), so a checkpoint at an uptime over the
  // restore budget makes the uniqueness controls exact. 0 (the default): no wait.
  std::chrono::milliseconds checkpoint_min_uptime{0};
  // A network card; none by default. A snapshot of a sandbox with one restores only with one.
  std::optional<SandboxNic> network;
  // Restores: the snapshot's one decoded copy, shared with its other clones on this host
  // (memory/shared_image.h; borrowed descriptors, duplicated by the restore). None: this clone
  // decodes its own copy of every page it touches.
  std::optional<memory::SharedImageFds> shared_image;
  // A VM this process made ahead (vmm/vm_shell.h: a spare VMM process makes one while it
  // waits); the sandbox's machine is built in it instead of a new one. Taken by the first
  // cold start or restore given it. Never sent to another process: KVM serves a VM only to the
  // process that made it.
  std::shared_ptr<vmm::VmShell> vm_shell;
};

// What Sandbox::checkpoint wrote.
struct SnapshotInfo {
  double init_ms = 0;   // the function's INIT, up to restore/next
  double pause_ms = 0;  // before-checkpoint handshake and vCPU pause
  double save_ms = 0;   // machine state and page store
  snapshot::WriteStats pages;
};

struct InvokeRequest {
  std::string payload;
  std::string request_id;  // empty: a new UUID
  std::string client_context;
  std::string cognito_identity;
  std::string tenant_id;
};

struct InvokeResult {
  enum class Status { kSuccess, kFunctionError, kTimeout, kRuntimeExit, kSandboxError };
  Status status = Status::kSuccess;
  std::string body;        // the response, or Lambda's error JSON
  std::string error_type;  // for everything but kSuccess (Lambda's X-Amz-Function-Error)
  InvocationReport report;
};

class Sandbox {
 public:
  // Boots `image_dir` and runs INIT. Throws SandboxError when INIT fails, times out, or the
  // runtime exits; the VM is gone by then.
  static std::unique_ptr<Sandbox> cold_start(const std::string& image_dir, SandboxOptions options);
  // Restores a snapshot written by checkpoint(): the machine comes back with its memory served
  // lazily from the page store (working set prefetched), the host's after-restore context
  // (entropy, clock, identity) goes to the agent, and the runtime's after-restore hooks run.
  // Throws thaw::Error for a snapshot that cannot be used (corrupt, truncated, another
  // format version, a CPU this host lacks) and SandboxError when the restore or its hooks fail
  // or run past restore_budget; the VM is gone by then.
  static std::unique_ptr<Sandbox> restore(const std::string& snapshot_dir, SandboxOptions options);

  // SnapStart's checkpoint, on a sandbox cold-started with initialization_type "snap-start"
  // whose runtime has reached restore/next: the agent quiesces, the vCPUs are paused, and the
  // machine state and guest memory are written to `snapshot_dir` (manifest last), its chunks to
  // `chunk_store` when given (shared by many snapshots), else inside snapshot_dir. The sandbox
  // is discarded afterwards, as Lambda discards the VM it snapshots.
  SnapshotInfo checkpoint(const std::string& snapshot_dir, const std::string& image_dir,
                          const std::string& chunk_store = {});
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // Runs one invocation and writes START/END/REPORT through options.log. After any status
  // but kSuccess and kFunctionError the sandbox is dead (alive() is false).
  InvokeResult invoke(const InvokeRequest& request);
  bool alive() const { return alive_; }
  // The first clone to map a snapshot's shared copy records which pages its first invocation
  // wrote (written_pages.bin), for later clones to copy before they resume. That scans the
  // guest's memory, so invoke() leaves it to its caller, to be done once the answer is on its
  // way (thaw-vmm calls this after sending it); the next invoke() and the destructor do it if
  // nobody did. Does nothing on any other sandbox, before the first invocation, or once done.
  void save_written_pages();
  // Its vCPUs are paused until the next invocation (SandboxOptions::freeze_between_invocations).
  bool frozen() const { return frozen_; }
  // SHUTDOWN: the runtime gets SIGTERM and 2 s, then the VM powers off. Idempotent.
  void shutdown();

  const image::ImageConfig& image() const { return image_; }
  double init_ms() const { return init_ms_; }
  // Restored sandboxes: the whole restore, and the runtime's after-restore hooks alone.
  double restore_ms() const { return restore_ms_; }
  double restore_hooks_ms() const { return restore_hooks_ms_; }
  // Restored sandboxes: the restore's critical path up to the runtime's hooks (the first
  // invocation's report adds first_response).
  const std::vector<RestorePhase>& restore_phases() const { return restore_phases_; }
  // Restored sandboxes: hex of the first bytes the guest kernel's CRNG produced right after the
  // restore hooks (the agent reads them before the runtime runs). Clones of one snapshot must
  // all differ here; with hooks.skip_entropy they repeat the snapshot's.
  const std::string& kernel_random_after_restore() const { return kernel_random_; }
  // Restored sandboxes: the guest kernel reported that it reseeded its CRNG because the VM
  // Generation ID changed ("crng reseeded due to virtual machine fork"), before that probe.
  bool kernel_reseeded_by_vmgenid() const { return kernel_reseeded_by_vmgenid_; }
  // Restored sandboxes: guest time from the checkpoint's forced reseed to that probe, and the
  // guest's uptime at the checkpoint (the probe is exact while the first is below the second).
  double guest_ms_checkpoint_to_probe() const { return probe_uptime_ms_ - checkpoint_uptime_ms_; }
  double guest_uptime_ms_at_checkpoint() const { return checkpoint_uptime_ms_; }
  // Restored sandboxes: lazy memory statistics so far.
  std::optional<memory::RestoreStats> memory_stats() const;

 private:
  Sandbox(image::ImageConfig image, SandboxOptions options);
  void boot(const std::string& image_dir);
  void finish_init(double init_ms, std::chrono::milliseconds budget, bool at_checkpoint);
  // Fills the result of an invocation from the guest's answer to it.
  void take_answer(channel::GuestMessage& m, InvokeResult& r);
  void resume_from(const std::string& snapshot_dir, PhaseClock& phases);
  // Discards a sandbox whose restore did not end with the runtime's RestoreDone (`m`: what
  // came instead, if anything) and throws the SandboxError that says why.
  [[noreturn]] void fail_restore(const std::optional<channel::GuestMessage>& m);
  void finish_first_invocation();
  // options_.vm_shell's VM, once; none when it has none or it was taken.
  std::optional<vmm::VmShell> take_vm_shell();
  std::function<void(uint8_t)> console_sink() {
    return [this](uint8_t b) { console_.put(b); };
  }
  template <class T>
  void send(T message);
  // Waits for the next message that is not a log line; nullopt at the deadline or when the VM ended.
  std::optional<channel::GuestMessage> wait_message(std::chrono::steady_clock::time_point deadline);
  void on_channel_bytes(std::span<const uint8_t> bytes);
  void discard(const std::string& why);
  void freeze();
  void thaw_vcpus();

  image::ImageConfig image_;
  SandboxOptions options_;
  // Restored sandboxes: the page store, the guest memory it fills lazily, and the loader. The
  // VM (declared after them, so destroyed first) must be gone before the loader goes.
  std::string snapshot_dir_;
  std::unique_ptr<snapshot::PageStoreReader> pages_;
  std::optional<memory::SharedImage> shared_image_;
  std::optional<memory::GuestMemory> memory_;
  std::unique_ptr<memory::LazyLoader> loader_;
  bool recording_working_set_ = false;
  bool recording_written_pages_ = false;  // the first clone to map the shared copy, until saved
  double restore_ms_ = 0, restore_hooks_ms_ = 0;
  std::vector<RestorePhase> restore_phases_;
  std::string kernel_random_;
  bool kernel_reseeded_by_vmgenid_ = false;
  double checkpoint_uptime_ms_ = 0, probe_uptime_ms_ = 0;
  bool at_checkpoint_ = false;
  std::unique_ptr<vmm::Vm> vm_;
  bool alive_ = false;
  bool frozen_ = false;
  bool first_invoke_ = true;
  double init_ms_ = 0;
  uint32_t sequence_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  channel::Decoder decoder_;
  std::deque<channel::GuestMessage> inbox_;
  std::optional<std::string> channel_error_;
  ConsoleLines console_;
};

}  // namespace thaw::engine
