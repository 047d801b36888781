#pragma once
// thaw::Engine: functions, their versions and aliases, kept in a data directory that survives
// restarts; SnapStart snapshots taken when a version is published; and a pool of sandboxes
// (one microVM each) reused warm, restored from a snapshot or cold-started as invocations need.
//
// Thread-safe: any number of threads may call any method at once. Invocations run in parallel
// in separate sandboxes; one sandbox runs one invocation at a time. Control-plane calls return
// as soon as the change is durable; building an image or taking a snapshot continues in the
// background (the version is Pending until it is Active or Failed: see wait_until_ready).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "thaw/async.h"
#include "thaw/error.h"
#include "thaw/function.h"
#include "thaw/invoke.h"
#include "thaw/layer.h"
#include "thaw/metrics.h"

namespace thaw {

// The host side of sandboxes' networks (functions with FunctionSettings::network_allow): each
// such sandbox has a network namespace of its own whose uplink is a /30 of `host_range` on
// this host (link `<link_prefix>N`), masqueraded there. The engine must run as root.
struct NetworkOptions {
  std::string host_range = "10.200.0.0/16";  // must not overlap the host's own networks
  std::string link_prefix = "thaw-";
  // Namespaces kept made ahead, once a function with a network exists, so that a sandbox
  // (a restore above all) does not wait for one.
  unsigned ready = 2;
  // Each sandbox's outbound limit (token bucket on its card); 0: none.
  uint64_t tx_bytes_per_second = 0;
  uint64_t tx_burst_bytes = 0;  // 0: one second's worth
};

// How many invocations run at once, as Lambda limits them (see put_function_concurrency).
struct ConcurrencyOptions {
  // Concurrent executions of all functions together. 0: Lambda's 1,000, or as many 128 MB
  // sandboxes as the memory budget holds where that is fewer.
  unsigned account_limit = 0;
  // What reservations must leave to the functions without one. Unset: a tenth of the account
  // limit (Lambda keeps 100 of 1,000).
  std::optional<unsigned> unreserved_minimum{};
  // The memory all sandboxes together may take (each its function's memory size). 0: this
  // host's memory less host_reserve_mb. An invocation that needs a new sandbox that does not fit
  // first shuts idle sandboxes down, least recently used first; then it is throttled.
  uint64_t memory_budget_mb = 0;
  uint64_t host_reserve_mb = 1024;
  // Lambda's scaling rate: new sandboxes per function per window; capped at the account limit.
  unsigned burst_sandboxes = 1000;
  std::chrono::milliseconds burst_window = std::chrono::seconds(10);
};

struct EngineOptions {
  // Where functions, code, images and snapshots live. Empty: default_data_dir().
  std::string data_dir{};
  // $XDG_DATA_HOME/thaw, else ~/.local/share/thaw; empty when neither variable is set.
  static std::string default_data_dir();
  // Guest files. Empty: found next to the installed engine (PREFIX/lib/thaw/thaw-agent and
  // PREFIX/share/thaw/runtimes), or in the build tree the engine was built in.
  std::string guest_agent{};
  std::string runtimes_dir{};
  std::string kernel{};  // the guest kernel; empty: the newest /boot/vmlinuz-*
  // The VMM process's executable (one process per sandbox). Empty: PREFIX/libexec/thaw/thaw-vmm.
  std::string vmm_executable{};
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  // Idle sandboxes are shut down after this long without an invocation (plus up to 10 %
  // jitter, as Lambda spreads its reaping). Zero: never.
  std::chrono::milliseconds idle_timeout = std::chrono::minutes(10);
  // The clones of one snapshot share its decoded pages: the host holds each page nobody wrote
  // once, however many clones run, and a clone's restore maps what another decoded instead of
  // reading it again. Needs Linux 5.14+; ignored where the kernel lacks it.
  bool share_snapshot_memory = true;
  // Once a snapshot's first restore has recorded its working set, a build worker re-encodes the
  // snapshot around it: the working set stays lz4 (fastest to decode) at the front of one pack,
  // the rest of memory is stored with zstd at this level and a dictionary trained on it, about
  // a third smaller (thaw's bench page-store: PageStoreRepack). 0: never.
  int snapshot_zstd_level = 15;
  // VMM processes started ahead of need and left idle until a sandbox takes one, so that a
  // restore does not wait for a new process to start (its vmm_process phase). One is replaced
  // after the sandbox that took it has started. 0: every sandbox starts its own.
  unsigned spare_vmm_processes = 1;
  // INIT's budget for on-demand sandboxes (Lambda's is 10 s); SnapStart's INIT before a
  // snapshot gets max(130 s, the function's timeout), as on Lambda.
  std::chrono::milliseconds init_timeout = std::chrono::seconds(10);
  // A SnapStart restore's budget, after-restore hooks included (Lambda's is 10 s); a restore
  // past it is a failed start (Sandbox.Timedout).
  std::chrono::milliseconds restore_timeout = std::chrono::seconds(10);
  // Time allowed for a guest kernel and its agent to come up, on top of INIT's budget.
  std::chrono::milliseconds boot_allowance = std::chrono::seconds(120);
  // Threads that build images and take snapshots. 0: none; versions stay Pending until an
  // engine with builders opens the data directory (a control-plane-only engine, such as the
  // CLI's read-only commands).
  unsigned build_workers = 1;
  // Each VMM process runs in a cgroup v2 group of its own, created under this directory: cpu.max
  // is Lambda's CPU share for the function's memory (1,769 MB = one vCPU, linear; the guest
  // gets 1 to 6 vCPUs to match) and memory.max the guest's memory plus 128 MiB for the VMM.
  // Empty: a `thaw` group under the engine's own cgroup (which works where that is the root,
  // as in a container, or has cpu and memory delegated); "none": no groups. Where cgroup v2
  // cannot be had the engine says why once and runs without limits.
  std::string cgroup_parent{};
  // Multiplies the CPU share in cpu.max; 0: no CPU limit. Unset: $THAW_CPU_SCALE, else 1.
  // (The emulated KVM host sets 0: on a software CPU, Lambda's share is no Lambda.)
  std::optional<double> cpu_scale{};
  ConcurrencyOptions concurrency{};
  AsyncOptions async{};
  NetworkOptions network{};
  // Every function log line (also START/END/REPORT); called from the engine's threads.
  std::function<void(const LogEvent&)> on_log{};
};

struct EngineStats {
  unsigned functions = 0, versions = 0;
  unsigned sandboxes_idle = 0, sandboxes_busy = 0;
  unsigned sandboxes = 0;  // every sandbox that exists: starting, busy or idle
  uint64_t sandboxes_started_cold = 0, sandboxes_restored = 0, sandboxes_reused = 0;
  unsigned concurrent_executions = 0;  // on-demand invocations running
  uint64_t throttles = 0;              // invocations refused with kThrottled
  uint64_t sandbox_memory_mb = 0;      // the memory the existing sandboxes hold
  // The shared chunk store of all snapshots: bytes on disk; what the snapshots would take if
  // each stored its own chunks; and of the stored chunks, those two or more snapshots share
  // (kernel, runtime, libraries) and those only one references.
  uint64_t chunk_store_bytes = 0, snapshot_referenced_bytes = 0;
  uint64_t shared_chunk_bytes = 0, unique_chunk_bytes = 0;
};

// GetAccountSettings: the limits and what is in use.
struct AccountSettings {
  unsigned concurrent_executions = 0;              // the account limit
  unsigned unreserved_concurrent_executions = 0;   // the limit less every reservation
  unsigned unreserved_minimum = 0;
  uint64_t memory_budget_mb = 0;
  unsigned function_count = 0;
  uint64_t total_code_size = 0;  // bytes of the code of every version
  uint64_t code_size_zipped_limit = 0, code_size_unzipped_limit = 0, total_code_size_limit = 0;
};

enum class ProvisionedStatus { kInProgress, kReady, kFailed };
std::string_view to_string(ProvisionedStatus s);  // "IN_PROGRESS", "READY", "FAILED"

// A provisioned concurrency configuration (GetProvisionedConcurrencyConfig): that many sandboxes
// of a version or alias initialized ahead and kept, never reaped for idleness.
struct ProvisionedConcurrencyInfo {
  std::string function, qualifier;
  unsigned requested = 0;
  unsigned allocated = 0;  // sandboxes initialized for it (idle or running an invocation)
  ProvisionedStatus status = ProvisionedStatus::kInProgress;
  std::string status_reason;  // why FAILED
  std::string last_modified;  // ISO 8601
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});
  ~Engine();  // shutdown() with its default deadline
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Control plane. `function` is a name or an ARN; `qualifier` a version or alias (or empty).
  FunctionInfo create_function(const std::string& name, const FunctionSettings& settings, const FunctionCode& code);
  FunctionInfo get_function(const std::string& function, const std::string& qualifier = {}) const;
  std::vector<FunctionInfo> list_functions() const;  // $LATEST of each, by name
  std::vector<FunctionInfo> list_versions(const std::string& function) const;  // $LATEST first
  FunctionInfo update_function_code(const std::string& function, const FunctionCode& code,
                                    const std::string& revision_id = {});
  FunctionInfo update_function_configuration(const std::string& function, const FunctionSettingsUpdate& update);
  // Publishes $LATEST as the next version; unchanged code and configuration return the last
  // published version instead. `code_sha256`/`revision_id`, when set, must match $LATEST's.
  FunctionInfo publish_version(const std::string& function, const std::string& description = {},
                               const std::string& code_sha256 = {}, const std::string& revision_id = {});
  // The whole function (empty qualifier) or one published version.
  void delete_function(const std::string& function, const std::string& qualifier = {});

  AliasInfo create_alias(const std::string& function, const std::string& alias, const AliasSettings& settings);
  AliasInfo update_alias(const std::string& function, const std::string& alias, const AliasSettings& settings,
                         const std::string& revision_id = {});
  AliasInfo get_alias(const std::string& function, const std::string& alias) const;
  std::vector<AliasInfo> list_aliases(const std::string& function) const;
  void delete_alias(const std::string& function, const std::string& alias);

  // Layers. `layer` is a name or a layer ARN. Publishing stores the content (as function code,
  // 50 MB zipped, 250 MB unzipped) and gives it the next version number; numbers are never
  // reused, also after deletes. A deleted version stays in the functions that took it; new
  // configurations cannot take it. kNotFound for a layer or version that does not exist.
  LayerVersionInfo publish_layer_version(const std::string& layer, const LayerSettings& settings,
                                         const FunctionCode& content);
  LayerVersionInfo get_layer_version(const std::string& layer, unsigned version) const;
  LayerVersionInfo get_layer_version_by_arn(const std::string& arn) const;
  // The newest version of each layer, by name; with `compatible_runtime`, the newest that lists it.
  std::vector<LayerVersionInfo> list_layers(const std::string& compatible_runtime = {}) const;
  // Newest first.
  std::vector<LayerVersionInfo> list_layer_versions(const std::string& layer,
                                                    const std::string& compatible_runtime = {}) const;
  void delete_layer_version(const std::string& layer, unsigned version);  // none there: nothing to do

  // Reserved concurrency: at most `reserved` of the function's invocations run at once, and that
  // many are kept for it out of the account's limit (0 throttles every invocation). Durable.
  // Throws kInvalidParameter when the account's unreserved concurrency would drop under its minimum.
  void put_function_concurrency(const std::string& function, unsigned reserved);
  std::optional<unsigned> get_function_concurrency(const std::string& function) const;
  void delete_function_concurrency(const std::string& function);
  AccountSettings account_settings() const;

  // Provisioned concurrency on a published version or an alias (not $LATEST: kInvalidParameter).
  // Returns at once with status kInProgress; the sandboxes start in the background (restored
  // from the version's snapshot, or cold-started with INIT type provisioned-concurrency), and
  // the status turns kReady, or kFailed with the reason. They count against the function's
  // reserved concurrency and the account's, and invocations of that qualifier use them first.
  // Kept in the function's record: the sandboxes are started again after a restart.
  ProvisionedConcurrencyInfo put_provisioned_concurrency(const std::string& function, const std::string& qualifier,
                                                         unsigned count);
  // kProvisionedConfigNotFound where the qualifier has none.
  ProvisionedConcurrencyInfo get_provisioned_concurrency(const std::string& function,
                                                         const std::string& qualifier) const;
  std::vector<ProvisionedConcurrencyInfo> list_provisioned_concurrency(const std::string& function) const;
  void delete_provisioned_concurrency(const std::string& function, const std::string& qualifier);

  // Blocks until the version the qualifier names is Active (returned) or Failed (EngineError
  // kSandboxError with the reason), or throws kNotReady after `timeout`.
  FunctionInfo wait_until_ready(const std::string& function, const std::string& qualifier = {},
                                std::chrono::milliseconds timeout = std::chrono::minutes(10)) const;

  // Blocks until the build workers have nothing queued or running (image builds, snapshots,
  // snapshot re-encodings); false if that did not happen within `timeout`.
  bool wait_for_background_work(std::chrono::milliseconds timeout = std::chrono::minutes(10)) const;

  // Runs one invocation. Throws EngineError for what Lambda answers with an exception (not
  // found, not ready, too large, throttled, a SnapStart restore that failed, ...); a function
  // that fails returns normally with function_error set. Nothing queues: an invocation over a
  // concurrency limit is throttled at once (kThrottled, with Lambda's Reason).
  InvokeResult invoke(const InvokeRequest& request);

  // Accepts an asynchronous invocation (Lambda's InvocationType Event): on disk, fsynced, when
  // it returns its request id (what the 202 answers), and delivered by the event workers, also
  // after a crash and restart (at least once: a delivery a crash cut short runs again with the
  // same request id). Throws kNotFound, kTooLarge (over 1 MB) or kInternal (not queued).
  std::string invoke_async(const InvokeRequest& request);
  AsyncStats async_stats() const;

  // Put replaces a qualifier's configuration (what is unset takes Lambda's default); Update
  // (replace false) changes what is set, kNotFound where there is none. kInvalidParameter for a
  // value out of range or a destination that is neither a function nor a queue.
  EventInvokeConfig put_event_invoke_config(const std::string& function, const std::string& qualifier,
                                            const EventInvokeConfigUpdate& update, bool replace = true);
  EventInvokeConfig get_event_invoke_config(const std::string& function, const std::string& qualifier) const;
  std::vector<EventInvokeConfig> list_event_invoke_configs(const std::string& function) const;
  void delete_event_invoke_config(const std::string& function, const std::string& qualifier);

  // Shuts down the idle sandboxes of `function` (a name; empty: of every function) now rather
  // than at their idle timeout: to give memory back, or to measure new sandboxes. Provisioned
  // sandboxes stay (they go with their configuration).
  void release_idle_sandboxes(const std::string& function = {});

  EngineStats stats() const;
  // Per function version since the engine started (thaw/metrics.h), with every function's
  // concurrency now.
  EngineMetrics metrics() const;
  const std::string& data_dir() const;

  // Stops taking invocations (they get kThrottled), lets running ones finish for up to `drain`
  // and then ends those that have not (they return a Sandbox.Error that says the engine shut
  // down), waits for image builds and snapshots under way, and shuts every sandbox down
  // (SHUTDOWN phase: the runtime's SIGTERM handler runs). Idempotent.
  void shutdown(std::chrono::milliseconds drain = std::chrono::seconds(30));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_{};
};

}  // namespace thaw
