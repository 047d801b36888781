// thaw::Engine: construction (the data directory, the records, the background worker), the
// waits and statistics, and shutdown. The control plane is in control_plane.cpp, invocations
// in engine_invoke.cpp, background builds in engine_background.cpp.
#include "thaw/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "base/error.h"
#include "engine/engine_impl.h"
#include "engine/guest_paths.h"
#include "engine/qualifier.h"
#include "snapshot/manifest.h"
#include "snapshot/store_sharing.h"

namespace thaw {
namespace fs = std::filesystem;

namespace {

fs::path prepared_data_dir(const EngineOptions& o) {
  fs::path d = o.data_dir.empty() ? fs::path(EngineOptions::default_data_dir()) : fs::path(o.data_dir);
  if (d.empty()) throw EngineError(ErrorCode::kInvalidParameter, "no data directory: set EngineOptions::data_dir (or HOME)");
  std::error_code ec;
  fs::create_directories(d, ec);
  if (ec) throw EngineError(ErrorCode::kInvalidParameter, "cannot create the data directory " + d.string() + ": " + ec.message());
  return fs::absolute(d);
}

std::unique_ptr<engine::CgroupParent> open_cgroups(const EngineOptions& o) {
  if (o.cgroup_parent == "none") return nullptr;
  std::string why;
  auto parent = engine::CgroupParent::open(o.cgroup_parent, why);
  if (parent)
    spdlog::debug("engine: VMM processes run in cgroups under {}", parent->path());
  else
    spdlog::info("engine: VMM processes run without cgroup limits: {}", why);
  return parent;
}

double cpu_scale_of(const EngineOptions& o) {
  if (o.cpu_scale) return std::max(0.0, *o.cpu_scale);
  if (const char* env = std::getenv("THAW_CPU_SCALE"); env && *env) {
    char* end = nullptr;
    double v = std::strtod(env, &end);
    if (end && *end == '\0' && v >= 0) return v;
    spdlog::warn("engine: THAW_CPU_SCALE={} is not a number >= 0; using 1", env);
  }
  return 1;
}

engine::ArtifactPaths artifact_paths(const fs::path& data, const EngineOptions& o) {
  auto guest = engine::find_guest_paths(o.guest_agent, o.runtimes_dir);
  return {data / "images", data / "snapshots", data / "chunks", data / "work",
          guest.agent,     guest.runtimes_dir,  o.kernel,        o.vmm_executable};
}

}  // namespace

std::string EngineOptions::default_data_dir() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return (fs::path(xdg) / "thaw").string();
  if (const char* home = std::getenv("HOME"); home && *home) return (fs::path(home) / ".local/share/thaw").string();
  return {};
}

Engine::Impl::Impl(EngineOptions o)
    : options(std::move(o)),
      data(prepared_data_dir(options)),
      lock(data),
      store(data / "functions"),
      code(data / "code"),
      layer_store(data / "layers"),
      builder(artifact_paths(data, options), code),
      cgroups(open_cgroups(options)),
      cpu_scale(cpu_scale_of(options)),
      limits(engine::concurrency_config(options.concurrency)),
      pool(options.idle_timeout),
      shared_images(options.share_snapshot_memory),
      network_range(engine::net::parse_host_range(options.network.host_range, options.network.link_prefix)),
      data_text(data.string()),
      events(data / "events"),
      queues(data / "queues") {
  records = store.load_all();
  layers = layer_store.load_all();
  load_reservations();
  load_provisioned();
  collect_garbage();
  collect_packs();
  // Work a previous engine did not finish (it was stopped or killed mid-build) starts over.
  for (const auto& [name, r] : records) {
    if (r.latest.last_update_status == LastUpdateStatus::kInProgress) enqueue(name, r.latest.version);
    for (const auto& [n, v] : r.versions)
      if (v.state == FunctionState::kPending) enqueue(name, v.version);
  }
  // Networks made ahead for the functions that have one, before their first sandbox asks (by
  // an engine that serves: one with builders).
  auto with_network = [](const auto& entry) {
    const engine::FunctionRecord& r = entry.second;
    return has_network(r.latest) ||
           std::any_of(r.versions.begin(), r.versions.end(), [](const auto& v) { return has_network(v.second); });
  };
  if (options.build_workers > 0 && std::any_of(records.begin(), records.end(), with_network)) network_pool();
  // Before any thread starts: nothing here may throw once one runs.
  if (options.build_workers > 0 && options.spare_vmm_processes > 0) {
    try {
      spares = std::make_unique<engine::VmmSpares>(builder.paths().vmm(), options.spare_vmm_processes);
    } catch (const std::exception& e) {  // no thaw-vmm: every sandbox's start says so
      spdlog::debug("engine: no spare VMM processes: {}", e.what());
    }
  }
  for (unsigned i = 0; i < options.build_workers; ++i) workers.emplace_back([this] { worker_loop(); });
  if (options.build_workers > 0) provisioner = std::thread([this] { provision_loop(); });
  spdlog::debug("engine: {} function(s) in {}", records.size(), data.string());
}

Engine::Impl::~Impl() {
  stop_event_workers();
  stop_provisioner();
  {
    std::lock_guard lock(mu);
    stopping = true;
    stop_repack = true;
  }
  changed.notify_all();
  for (auto& w : workers)
    if (w.joinable()) w.join();
}

Engine::Engine(EngineOptions options) {
  try {
    engine::net::parse_host_range(options.network.host_range, options.network.link_prefix);
  } catch (const Error& e) {
    throw EngineError(ErrorCode::kInvalidParameter, std::string("EngineOptions::network: ") + e.what());
  }
  try {
    impl_ = std::make_unique<Impl>(std::move(options));
    impl_->start_event_workers(*this);
  } catch (const EngineError&) {
    throw;
  } catch (const std::exception& e) {
    throw EngineError(ErrorCode::kInternal, std::string("cannot open the engine's data directory: ") + e.what());
  }
}

Engine::~Engine() {
  try {
    shutdown();
  } catch (const std::exception& e) {
    spdlog::warn("engine shutdown: {}", e.what());
  }
}

const std::string& Engine::data_dir() const { return impl_->data_text; }

FunctionInfo Engine::wait_until_ready(const std::string& function, const std::string& qualifier,
                                      std::chrono::milliseconds timeout) const {
  auto ref = engine::parse_function_ref(function, qualifier);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(impl_->mu);
  for (;;) {
    const auto& r = impl_->record_of(ref.name);
    const auto& v = impl_->resolve(r, ref);
    if (v.state == FunctionState::kFailed)
      throw EngineError(ErrorCode::kSandboxError, r.name + ":" + v.version + " failed: " + v.state_reason);
    if (v.state == FunctionState::kActive && v.last_update_status != LastUpdateStatus::kInProgress)
      return impl_->info_of(r, v);
    if (impl_->changed.wait_until(lock, deadline) == std::cv_status::timeout &&
        std::chrono::steady_clock::now() >= deadline)
      throw EngineError(ErrorCode::kNotReady, r.name + ":" + v.version + " is still " +
                                                  std::string(to_string(v.state)) + " after " +
                                                  std::to_string(timeout.count()) + " ms: " + v.state_reason);
  }
}

bool Engine::wait_for_background_work(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  return impl_->changed.wait_for(lock, timeout, [&] {
    return impl_->jobs.empty() && impl_->repacks.empty() && impl_->jobs_running == 0;
  });
}

EngineMetrics Engine::metrics() const {
  EngineMetrics m;
  m.versions = impl_->metrics.snapshot();
  std::vector<std::string> names;
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& [n, r] : impl_->records) names.push_back(n);
  }
  for (const auto& n : names) {
    auto reserved = impl_->limits.reserved(n);
    m.functions.push_back({n, impl_->limits.in_flight(n), reserved ? int64_t(*reserved) : -1});
  }
  for (const auto& c : impl_->provisioned.all())
    m.provisioned.push_back({c.function, c.qualifier, c.requested, c.ready, c.usage.in_use, c.usage.invocations,
                             c.usage.spillovers});
  return m;
}

EngineStats Engine::stats() const {
  EngineStats s;
  {
    std::lock_guard lock(impl_->mu);
    s.functions = unsigned(impl_->records.size());
    for (const auto& [n, r] : impl_->records) s.versions += 1 + unsigned(r.versions.size());
  }
  s.sandboxes_idle = impl_->pool.idle_count();
  s.sandboxes_busy = impl_->busy.load();
  s.sandboxes_started_cold = impl_->started_cold.load();
  s.sandboxes_restored = impl_->restored.load();
  s.sandboxes_reused = impl_->reused.load();
  s.sandboxes = impl_->limits.memory_leases();
  s.sandbox_memory_mb = impl_->limits.memory_in_use_mb();
  s.concurrent_executions = impl_->limits.in_flight_total();
  s.throttles = impl_->throttles.load();
  auto sharing = impl_->sharing();
  s.snapshot_referenced_bytes = sharing.referenced_bytes;
  s.shared_chunk_bytes = sharing.shared_bytes;
  s.unique_chunk_bytes = sharing.unique_bytes;
  s.chunk_store_bytes = impl_->chunk_store_bytes();
  return s;
}

uint64_t Engine::Impl::chunk_store_bytes() const {
  uint64_t generation = chunk_store_generation.load();
  std::lock_guard lock(sharing_mu);
  if (generation != chunk_bytes_generation) {
    uint64_t bytes = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(builder.paths().chunks, ec); it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_regular_file(ec)) bytes += it->file_size(ec);
    chunk_bytes_cache = bytes;
    chunk_bytes_generation = generation;
  }
  return chunk_bytes_cache;
}

snapshot::StoreSharing Engine::Impl::sharing() const {
  std::set<std::string> names;
  {
    std::lock_guard lock(mu);
    for (const auto& [n, r] : records)
      for (const auto& [number, v] : r.versions)
        if (!v.snapshot.empty()) names.insert(v.snapshot);
  }
  std::lock_guard lock(sharing_mu);
  if (names != sharing_of) {
    std::vector<fs::path> dirs;
    for (const auto& n : names) dirs.push_back(builder.snapshot_dir(n));
    try {
      sharing_cache = snapshot::measure_sharing(dirs);
      sharing_of = std::move(names);
    } catch (const std::exception& e) {
      spdlog::debug("engine: chunk store sharing not measured: {}", e.what());  // one deleted meanwhile
    }
  }
  return sharing_cache;
}

void Engine::release_idle_sandboxes(const std::string& function) {
  // Provisioned sandboxes are kept: they go with their configuration.
  impl_->pool.retire(function.empty() ? std::string() : engine::parse_function_ref(function).name + "/", false);
}

void Engine::shutdown(std::chrono::milliseconds drain) {
  if (!impl_ || impl_->draining.exchange(true)) return;
  impl_->events.stop();  // no event starts from now on; those being delivered drain with the rest
  {
    std::unique_lock lock(impl_->mu);
    if (!impl_->changed.wait_for(lock, drain, [&] { return impl_->busy.load() == 0; })) {
      // Out of time: the invocations still running end now, each with an error that says so.
      impl_->drain_expired = true;
      {
        std::lock_guard running(impl_->running_mu);
        spdlog::warn("engine shutdown: {} invocation(s) still running after {} ms: ending their sandboxes",
                     impl_->running.size(), drain.count());
        for (auto* sandbox : impl_->running) sandbox->kill();
      }
      impl_->changed.wait(lock, [&] { return impl_->busy.load() == 0; });
    }
    impl_->stopping = true;
    impl_->stop_repack = true;
  }
  impl_->changed.notify_all();
  impl_->stop_event_workers();
  for (auto& w : impl_->workers)
    if (w.joinable()) w.join();
  impl_->stop_provisioner();
  impl_->pool.shutdown_all();
}

}  // namespace thaw
