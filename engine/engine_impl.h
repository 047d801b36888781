#pragma once
// Engine::Impl: the state behind thaw::Engine, shared by its files: control_plane.cpp
// (functions, versions, aliases), engine_invoke.cpp (invocations and the pool),
// engine_background.cpp (image builds and snapshots off the caller's thread) and engine.cpp.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/artifact_builder.h"
#include "engine/code_store.h"
#include "engine/concurrency_limits.h"
#include "engine/data_dir_lock.h"
#include "engine/event_queue.h"
#include "engine/function_store.h"
#include "engine/invocation_metrics.h"
#include "engine/layer_arn.h"
#include "engine/layer_store.h"
#include "engine/local_queues.h"
#include "engine/net/host_range.h"
#include "engine/net/network_pool.h"
#include "engine/provisioned_configs.h"
#include "engine/qualifier.h"
#include "engine/sandbox_pool.h"
#include "engine/shared_images.h"
#include "engine/sandbox_process.h"
#include "engine/vmm_cgroup.h"
#include "snapshot/store_sharing.h"
#include "thaw/engine.h"

namespace thaw {

namespace engine {
// The limits an engine enforces: its options, with what they leave unset taken from this host
// (engine_concurrency.cpp).
ConcurrencyConfig concurrency_config(const ConcurrencyOptions& o);
// Now, as Lambda writes LastModified (control_plane.cpp).
std::string now_iso8601();
}  // namespace engine

struct Engine::Impl {
  explicit Impl(EngineOptions o);
  ~Impl();

  EngineOptions options;
  std::filesystem::path data;
  std::filesystem::path logs_dir() const { return data / "logs"; }  // engine/function_logs.h
  engine::DataDirLock lock;
  engine::FunctionStore store;
  engine::CodeStore code;
  engine::LayerStore layer_store;
  engine::ArtifactBuilder builder;

  // Guards records, alias counters and the job queue; `changed` is notified on every change
  // of a version's state (wait_until_ready waits on it) and of the queue.
  mutable std::mutex mu;
  mutable std::condition_variable changed;
  std::map<std::string, engine::FunctionRecord> records;
  std::map<std::string, uint64_t> alias_invocations;  // "name:alias" -> invocations routed so far
  std::map<std::string, engine::LayerRecord> layers;  // by name (guarded by mu)

  std::unique_ptr<engine::CgroupParent> cgroups;  // null: VMM processes run without limits
  double cpu_scale = 1;
  engine::ConcurrencyLimits limits;  // before pool: pooled sandboxes hold memory leases on it
  engine::ProvisionedConfigs provisioned;  // before pool: provisioned sandboxes report to it when gone
  engine::SandboxPool pool;
  engine::SharedImages shared_images;  // one decoded copy of each snapshot, for all its clones
  std::unique_ptr<engine::VmmSpares> spares;  // null in an engine without build workers
  // Sandbox networks, made ahead once a function with a network needs one (engine_network.cpp).
  engine::net::HostRange network_range;
  std::mutex networks_mu;
  std::unique_ptr<engine::net::NetworkPool> networks;
  std::thread provisioner;  // starts provisioned sandboxes (with build workers only)
  std::string data_text;
  std::atomic<unsigned> busy{0};
  std::atomic<bool> draining{false};
  // The sandboxes invocations are running in, so that a drain that runs out of time can end
  // them (their invocations return at once, with an error that says so).
  std::mutex running_mu;
  std::set<engine::SandboxProcess*> running;
  std::atomic<bool> drain_expired{false};
  std::atomic<uint64_t> started_cold{0}, restored{0}, reused{0}, throttles{0};
  engine::InvocationMetrics metrics;

  // Asynchronous invocations (engine_async.cpp).
  struct AsyncCounters {
    std::atomic<uint64_t> received{0}, succeeded{0}, failed{0}, retried{0}, to_destination{0}, dropped{0};
  };
  engine::EventQueue events;
  engine::LocalQueues queues;
  AsyncCounters async;
  std::vector<std::thread> event_workers;  // started by Engine's constructor, which they call back

  std::deque<std::pair<std::string, std::string>> jobs;  // (function, version) to build
  bool stopping = false;
  unsigned jobs_running = 0;
  bool packs_gc_pending = false;  // a snapshot went while a job wrote to the chunk store
  // Snapshots to re-encode around the working set their first restore recorded
  // (snapshot/repack.h). The workers take them when no build waits; `repacks_seen` keeps each
  // from being queued twice in one engine's life.
  std::deque<std::string> repacks;
  std::set<std::string> repacks_seen;
  std::atomic<bool> stop_repack{false};  // set with `stopping`: a repack running gives up
  std::vector<std::thread> workers;

  // How the snapshots share the chunk store, measured again only when the set of snapshots
  // changed (it reads every snapshot's page index).
  snapshot::StoreSharing sharing() const;
  mutable std::mutex sharing_mu;
  mutable std::set<std::string> sharing_of;
  mutable snapshot::StoreSharing sharing_cache;
  // The chunk store's bytes on disk, walked again only after it changed: a build job ended (it
  // may have written packs) or packs were collected (stats() is polled; the walk is not cheap).
  uint64_t chunk_store_bytes() const;
  std::atomic<uint64_t> chunk_store_generation{0};
  mutable uint64_t chunk_bytes_generation = ~uint64_t(0);  // under sharing_mu
  mutable uint64_t chunk_bytes_cache = 0;

  // control_plane.cpp (callers hold mu)
  engine::FunctionRecord& record_of(const std::string& name);
  const engine::FunctionRecord& record_of(const std::string& name) const;
  const engine::VersionRecord& resolve(const engine::FunctionRecord& r, const engine::FunctionRef& ref) const;
  FunctionInfo info_of(const engine::FunctionRecord& r, const engine::VersionRecord& v) const;
  AliasInfo alias_info(const engine::FunctionRecord& r, const engine::AliasRecord& a) const;
  void persist(const engine::FunctionRecord& r);
  // $LATEST changed (code or configuration): a new revision, durable, and its image queued.
  FunctionInfo commit_latest_update(engine::FunctionRecord& r, engine::FunctionRecord next);
  void references(std::set<std::string>& code_refs, std::set<std::string>& images,
                  std::set<std::string>& snapshots) const;
  // At start-up: deletes the code, images and snapshots no record refers to, and what
  // interrupted builds left.
  void collect_garbage();
  // After a delete: the artifacts of `gone` that no remaining record refers to.
  void release(const std::vector<engine::VersionRecord>& gone);
  // The chunk store's packs no snapshot refers to; only while no job writes to it.
  void collect_packs();
  // The packs the snapshots' manifests name (all but `except`'s).
  std::set<std::string> packs_in_use(const std::filesystem::path& except = {}) const;

  // engine_background.cpp
  // After a restored sandbox's first invocation: queues its snapshot's repack if it has a
  // working set and was not queued before. Caller holds mu.
  void queue_repack(const std::string& snapshot_dir);
  void run_repack(const std::string& snapshot_dir);

  // engine_layers.cpp (callers hold mu)
  // The layer versions `arns` name, checked as Lambda checks a function's Layers: at most 5,
  // each an existing version, no layer twice, and with the code (`code_unzipped` bytes) at most
  // 250 MB unzipped. Throws kInvalidParameter.
  std::vector<engine::LayerUse> resolve_layers(const std::vector<std::string>& arns, uint64_t code_unzipped) const;
  // Throws kInvalidParameter when code of `code_unzipped` bytes with `layers` is over 250 MB.
  static void check_unzipped_total(uint64_t code_unzipped, const std::vector<engine::LayerUse>& layers);
  LayerVersionInfo layer_info(const engine::LayerRecord& r, const engine::LayerVersionRecord& v) const;
  const engine::LayerVersionRecord& layer_version_of(const engine::LayerRef& ref) const;

  // engine_concurrency.cpp: the records' reservations into `limits` (at start-up).
  void load_reservations();

  // engine_async.cpp
  void start_event_workers(Engine& engine);
  void stop_event_workers();  // after the drain: a delivery under way finishes or is retried
  // The event's configuration (Lambda's defaults where it has none); nullopt: its function is gone.
  std::optional<EventInvokeConfig> event_config_of(const engine::QueuedEvent& e);
  std::chrono::milliseconds retry_delay(unsigned attempt, bool function_error) const;
  void deliver_event(Engine& engine, engine::QueuedEvent e);
  // The final outcome: to its destination (or counted as dropped), then off the queue.
  void finish_event(Engine& engine, const engine::QueuedEvent& e, const EventInvokeConfig& config,
                    const std::string& condition, const std::optional<InvokeResult>& r);
  // To the version's DeadLetterConfig queue, if it has one; false when none took it.
  bool send_dead_letter(const engine::QueuedEvent& e, const std::string& condition,
                        const std::optional<InvokeResult>& r);
  std::string destination_record(const engine::QueuedEvent& e, const std::string& condition,
                                 const std::optional<InvokeResult>& r) const;

  // engine_provisioned.cpp
  // Pool keys of provisioned sandboxes: "provisioned:F/Q/GEN". ':' is in no function name, so
  // retiring a function's on-demand keys ("F/") never reaches another's provisioned ones.
  static std::string provisioned_prefix(const std::string& function, const std::string& qualifier = {});
  static std::string provisioned_pool_key(const std::string& function, const std::string& qualifier,
                                          uint64_t generation);
  // Shuts down the idle provisioned sandboxes of a function, or of one of its qualifiers; busy ones go when
  // they come back (still_wanted). Call with `mu` held or not.
  void retire_provisioned(const std::string& function, const std::string& qualifier = {});
  // The records' configurations into `provisioned` and `limits` (at start-up).
  void load_provisioned();
  // r's configurations into `provisioned`, each with the artifact its qualifier resolves to now
  // (none while that version is not Active); the idle sandboxes of an artifact no longer current
  // are shut down, busy ones as they come back. `put_again` (just put by a caller) is put even
  // when unchanged: that retries one that FAILED. Caller holds mu.
  void refresh_provisioned(const engine::FunctionRecord& r, const std::string& put_again = {});
  unsigned provisioned_total(const engine::FunctionRecord& r) const;
  void provision_loop();
  void provision_one(const engine::ProvisionWork& w);
  // An idle provisioned sandbox for invoking `qualifier` of `name` whose artifact is `key`, or nullptr.
  std::unique_ptr<engine::PooledSandbox> take_provisioned(const std::string& name, const std::string& qualifier,
                                                          const std::string& key);
  // Back to its configuration if it is still wanted, else shut down.
  void give_back_provisioned(std::unique_ptr<engine::PooledSandbox> s);
  void stop_provisioner();

  // engine_background.cpp
  void enqueue(const std::string& name, const std::string& version);  // caller holds mu
  void worker_loop();
  void run_job(const std::string& name, const std::string& version);

  // engine_network.cpp
  // Sandboxes of `v` have a network card (and a network of their own).
  static bool has_network(const engine::VersionRecord& v) { return !v.settings.network_allow.empty(); }
  // The pool, made (and starting to fill) on first use.
  engine::net::NetworkPool& network_pool();
  // A network from the pool with `v`'s allow-list in force. Throws what making one throws.
  std::unique_ptr<engine::net::SandboxNetwork> network_for(const engine::VersionRecord& v);
  // The card's options for sandboxes of `v` (the engine's rate limit); nullopt without one.
  std::optional<engine::SandboxNic> nic_for(const engine::VersionRecord& v) const;

  // engine_invoke.cpp
  engine::SandboxOptions sandbox_options(const std::string& name, const engine::VersionRecord& v) const;
  // The VMM executable, a fresh cgroup with the version's limits, and its network if it has one.
  engine::VmmLaunch launch(const engine::VersionRecord& v);
  // A new sandbox of version `v` for invocation `id` (its INIT lines go to that log route),
  // its memory in the budget (idle sandboxes shut down to make room), INIT of
  // `initialization_type` where it is cold-started. Throws kThrottled; nullptr with `failed` set
  // when INIT failed (Lambda returns that as the invocation's function error).
  std::unique_ptr<engine::PooledSandbox> start_sandbox(const std::string& name, const engine::VersionRecord& v,
                                                       const std::string& id, InvokeResult& failed,
                                                       const std::string& initialization_type = "on-demand");
  engine::ConcurrencyLimits::MemoryLease memory_for(const engine::VersionRecord& v);
  // Runs one invocation, with the sandbox on `running` while it does: a shutdown whose drain
  // runs out ends it, and the invocation says so.
  engine::InvokeResult run_in(engine::SandboxProcess& sandbox, const engine::InvokeRequest& request,
                              std::chrono::milliseconds timeout);
  static std::string pool_key(const std::string& name, const engine::VersionRecord& v);
  // Whether `key` still names the current artifact of its version (so its sandbox may be reused).
  bool key_is_current(const std::string& name, const std::string& version, const std::string& key) const;
};

}  // namespace thaw
