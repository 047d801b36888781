// thaw::Engine's invocations: resolve the qualifier (aliases route by weight), lease a warm
// sandbox or make one (restored from the version's snapshot, or cold-started), run the
// invocation, and give the sandbox back to the pool if it is still good.
#include <spdlog/spdlog.h>

#include "base/error.h"
#include "engine/alias_router.h"
#include "engine/engine_impl.h"
#include "engine/function_logs.h"
#include "engine/restore_phases.h"
#include "engine/sandbox_internal.h"
#include "restore-hooks/host_hooks.h"

#include <nlohmann/json.hpp>

namespace thaw {
using engine::FunctionRecord;
using engine::QualifierKind;
using engine::VersionRecord;

namespace {

constexpr size_t kMaxSyncPayload = 6 * 1024 * 1024;

void check_ready(const FunctionRecord& r, const VersionRecord& v) {
  if (v.state == FunctionState::kFailed)
    throw EngineError(ErrorCode::kNotReady, "The function " + r.name + ":" + v.version +
                                                " is Failed and cannot be invoked: " + v.state_reason);
  if (v.state != FunctionState::kActive) {
    if (v.settings.snap_start == SnapStartApplyOn::kPublishedVersions && v.version != engine::kLatest)
      throw EngineError(ErrorCode::kSnapStartNotReady,
                        "Lambda is initializing your function " + r.name + ":" + v.version +
                            ". It will be ready to invoke once SnapStart has taken its snapshot.");
    throw EngineError(ErrorCode::kNotReady, "The function " + r.name + ":" + v.version +
                                                " is Pending: its image is being built. Try again shortly.");
  }
}

InvokeReport report_of(const engine::InvocationReport& r) {
  InvokeReport out;
  out.duration_ms = r.duration_ms;
  out.billed_duration_ms = engine::billed_ms(r.duration_ms);
  out.memory_size_mb = r.memory_size_mb;
  out.max_memory_used_mb = (r.max_memory_used_bytes + (1 << 20) - 1) >> 20;
  switch (r.start.kind) {
    case engine::StartInfo::Kind::kWarm: out.start = StartKind::kWarm; break;
    case engine::StartInfo::Kind::kCold:
      out.start = StartKind::kCold;
      out.init_duration_ms = r.start.init_ms;
      break;
    case engine::StartInfo::Kind::kRestored:
      out.start = StartKind::kRestored;
      out.restore_duration_ms = r.start.restore_ms;
      out.billed_restore_duration_ms = engine::billed_ms(r.start.billed_restore_ms);
      out.restore_phases = r.start.phases;
      break;
  }
  return out;
}

// An invocation that never reached a sandbox because none could be made: Lambda reports INIT
// failures of on-demand sandboxes as the invocation's function error.
InvokeResult failed_start(const engine::SandboxError& e, const std::string& version, const std::string& id) {
  InvokeResult r;
  r.function_error = "Unhandled";
  r.error_type = e.error_type();
  r.payload = !e.body().empty() ? e.body() : engine::detail::error_json(e.error_type(), e.what());
  r.executed_version = version;
  r.request_id = id;
  return r;
}

// A restore that failed is not the function's error but SnapStart's, as Lambda answers it: its
// after-restore hooks failed (SnapStartException), it ran past its budget
// (SnapStartTimeoutException), or the sandbox itself failed (ServiceException).
[[noreturn]] void restore_failed(const engine::SandboxError& e, const std::string& name, const std::string& version) {
  std::string what = "restoring " + name + ":" + version + " failed: " + e.what();
  if (!e.body().empty()) what += ": " + e.body();
  if (e.error_type() == "Sandbox.Timedout") throw EngineError(ErrorCode::kSnapStartTimeout, what);
  if (e.error_type() == "Sandbox.Error") throw EngineError(ErrorCode::kSandboxError, what);
  throw EngineError(ErrorCode::kSnapStartError, what);
}

}  // namespace

std::string Engine::Impl::pool_key(const std::string& name, const VersionRecord& v) {
  return name + "/" + v.version + "/" + (v.snapshot.empty() ? v.image : v.snapshot) + "/";
}

bool Engine::Impl::key_is_current(const std::string& name, const std::string& version, const std::string& key) const {
  auto it = records.find(name);
  if (it == records.end()) return false;
  const VersionRecord* v = it->second.find_version(version);
  return v && pool_key(name, *v) == key;
}

engine::SandboxOptions Engine::Impl::sandbox_options(const std::string& name, const VersionRecord& v) const {
  engine::SandboxOptions o;
  o.region = options.region;
  o.account_id = options.account_id;
  o.function_version = v.version;
  o.hooks.function_version = v.version;  // the restored clone's log stream names its version
  o.boot_allowance = options.boot_allowance;
  o.vcpus = engine::lambda_limits(v.settings.memory_mb, cpu_scale).vcpus;
  o.init_timeout = options.init_timeout;
  o.restore_budget = options.restore_timeout;
  o.network = nic_for(v);
  o.console = [name](std::string_view line) { spdlog::debug("[{} console] {}", name, line); };
  o.log = [this, name, version = v.version](std::string_view line) {
    if (options.on_log) options.on_log(LogEvent{name, version, {}, std::string(line)});
  };
  return o;
}

engine::VmmLaunch Engine::Impl::launch(const VersionRecord& v) {
  engine::VmmLaunch l;
  l.executable = builder.paths().vmm();
  if (cgroups) l.cgroup = cgroups->create(engine::lambda_limits(v.settings.memory_mb, cpu_scale));
  if (has_network(v)) l.network = network_for(v);
  l.spares = spares.get();
  return l;
}

engine::InvokeResult Engine::Impl::run_in(engine::SandboxProcess& sandbox, const engine::InvokeRequest& request,
                            std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(running_mu);
    running.insert(&sandbox);
    if (drain_expired) sandbox.kill();  // its sandbox started after the drain ran out
  }
  auto out = sandbox.invoke(request, timeout);
  {
    std::lock_guard lock(running_mu);
    running.erase(&sandbox);
  }
  if (out.status == engine::InvokeResult::Status::kSandboxError && drain_expired)
    out.body = engine::detail::error_json(out.error_type, "RequestId: " + request.request_id +
                                                              " Error: the engine shut down before the invocation "
                                                              "finished (its drain deadline passed)");
  return out;
}

engine::ConcurrencyLimits::MemoryLease Engine::Impl::memory_for(const VersionRecord& v) {
  for (;;) {
    if (auto lease = limits.reserve_memory(v.settings.memory_mb)) return std::move(*lease);
    if (!pool.shut_down_least_recent())
      throw EngineError::throttled("ConcurrentInvocationLimitExceeded",
                                   "Rate Exceeded. The sandboxes running hold this host's memory budget (" +
                                       std::to_string(limits.config().memory_budget_mb) + " MB)");
  }
}

std::unique_ptr<engine::PooledSandbox> Engine::Impl::start_sandbox(const std::string& name, const VersionRecord& v,
                                                                   const std::string& id, InvokeResult& failed,
                                                                   const std::string& initialization_type) {
  auto leased = std::make_unique<engine::PooledSandbox>();
  leased->memory = memory_for(v);
  std::shared_ptr<engine::LogStreamWriter> stream;
  try {
    stream = std::make_shared<engine::LogStreamWriter>(logs_dir(), name, v.version);
  } catch (const std::exception& e) {
    spdlog::warn("{}:{}: no log stream: {}", name, v.version, e.what());
  }
  leased->log = std::make_shared<engine::LogRoute>(
      name, v.version,
      [this, stream](const std::string& fn, const std::string& ver, const std::string& rid, std::string_view line) {
        if (stream) stream->append(line);
        if (options.on_log) options.on_log(LogEvent{fn, ver, rid, std::string(line)});
      });
  auto o = sandbox_options(name, v);
  o.initialization_type = initialization_type;
  o.log = [route = leased->log](std::string_view line) { route->emit(line); };
  leased->log->begin_invocation(id);
  // A spare VMM process this start takes is replaced once the start is over, off its critical path.
  struct Replenish {
    engine::VmmSpares* spares;
    ~Replenish() {
      if (spares) spares->replenish();
    }
  } replenish{spares.get()};
  try {
    if (!v.snapshot.empty()) {
      auto l = launch(v);
      std::string dir = builder.snapshot_dir(v.snapshot).string();
      l.shared_image = shared_images.for_snapshot(dir);
      leased->sandbox = engine::SandboxProcess::restore(std::move(l), dir, std::move(o));
      ++restored;
    } else {
      leased->sandbox = engine::SandboxProcess::cold_start(launch(v), builder.image_dir(v.image).string(), std::move(o));
      ++started_cold;
    }
  } catch (const engine::SandboxError& e) {
    spdlog::warn("{}:{}: a new sandbox failed to start ({}): {}", name, v.version, e.error_type(), e.what());
    if (!v.snapshot.empty()) restore_failed(e, name, v.version);
    failed = failed_start(e, v.version, id);
    failed.log_lines = leased->log->end_invocation();
    return nullptr;
  } catch (const std::exception& e) {
    throw EngineError(ErrorCode::kSandboxError,
                      "no sandbox could be started for " + name + ":" + v.version + ": " + e.what());
  }
  return leased;
}

InvokeResult Engine::invoke(const InvokeRequest& request) {
  auto ref = engine::parse_function_ref(request.function, request.qualifier);
  // Counted as busy before the drain check: a shutdown that saw no busy invocation never has
  // one start after it. The count changes under mu, so shutdown's wait misses no change.
  struct BusyGuard {
    Impl* impl;
    explicit BusyGuard(Impl* i) : impl(i) {
      std::lock_guard lock(impl->mu);
      ++impl->busy;
    }
    ~BusyGuard() {
      {
        std::lock_guard lock(impl->mu);
        --impl->busy;
      }
      impl->changed.notify_all();
    }
  } busy_guard{impl_.get()};
  if (impl_->draining)
    throw EngineError::throttled("ConcurrentInvocationLimitExceeded", "the engine is shutting down");
  if (request.payload.size() > kMaxSyncPayload)
    throw EngineError(ErrorCode::kTooLarge, "Request must be smaller than 6291456 bytes for the InvokeFunction operation");
  VersionRecord v;
  {
    std::lock_guard lock(impl_->mu);
    const auto& r = impl_->record_of(ref.name);
    v = impl_->resolve(r, ref);
    if (ref.kind == QualifierKind::kAlias) {
      const auto& alias = r.aliases.at(ref.qualifier);
      if (alias.routing) {
        uint64_t n = impl_->alias_invocations[r.name + ":" + alias.name]++;
        if (engine::routes_to_additional(n, engine::weight_millionths(alias.routing->weight)))
          v = *r.find_version(alias.routing->version);
      }
    }
    check_ready(r, v);
  }
  std::string key = Impl::pool_key(ref.name, v);
  std::string id = request.request_id.empty() ? hooks::new_uuid_v4() : request.request_id;

  // A provisioned sandbox first: those count against the limits already. Else an on-demand
  // one, whose slot outlives its return to the pool: the invocation admitted next finds it
  // idle rather than making another past the function's limit.
  std::unique_ptr<engine::PooledSandbox> leased;
  if (ref.kind == QualifierKind::kVersion || ref.kind == QualifierKind::kAlias)
    leased = impl_->take_provisioned(ref.name, ref.qualifier, key);
  const bool provisioned = leased != nullptr;
  engine::ConcurrencyLimits::Slot slot;
  try {
    if (!provisioned) {
      slot = impl_->limits.admit(ref.name);
      leased = impl_->pool.take(key);
    }
    if (leased) {
      ++impl_->reused;
    } else {
      impl_->limits.take_scale_token(ref.name);
      InvokeResult failed;
      leased = impl_->start_sandbox(ref.name, v, id, failed);
      if (!leased) {
        impl_->metrics.failed_to_start(ref.name, v.version);
        return failed;
      }
    }
  } catch (const EngineError& e) {
    if (e.code() == ErrorCode::kThrottled) {
      ++impl_->throttles;
      impl_->metrics.throttled(ref.name, v.version);
    }
    throw;
  }
  // The invocation's own lines, START to REPORT (INIT's went to the log before them; a failed
  // INIT's are what failed_start returned).
  leased->log->begin_invocation(id);
  engine::InvokeRequest sr;
  sr.payload = request.payload.empty() ? std::string("{}") : request.payload;  // no payload: {}, as Lambda
  sr.request_id = id;
  sr.client_context = request.client_context;
  sr.tenant_id = request.tenant_id;
  auto out = impl_->run_in(*leased->sandbox, sr, std::chrono::seconds(v.settings.timeout_s));
  ++leased->invocations;

  InvokeResult r;
  r.payload = std::move(out.body);
  r.error_type = out.error_type;
  if (out.status != engine::InvokeResult::Status::kSuccess) r.function_error = "Unhandled";
  r.executed_version = v.version;
  r.request_id = id;
  r.report = report_of(out.report);
  if (r.report.start == StartKind::kRestored) {
    spdlog::debug("restore of {}:{} to its first response: {}", ref.name, v.version,
                  engine::format_phases(r.report.restore_phases));
    std::lock_guard lock(impl_->mu);
    impl_->queue_repack(impl_->builder.snapshot_dir(v.snapshot).string());
  }
  r.log_lines = leased->log->end_invocation();
  impl_->metrics.invoked(ref.name, r);
  bool keep;
  {
    std::lock_guard lock(impl_->mu);
    keep = impl_->key_is_current(ref.name, v.version, key);
  }
  if (provisioned)
    impl_->give_back_provisioned(std::move(leased));
  else
    impl_->pool.give_back(key, std::move(leased), keep);
  return r;
}

}  // namespace thaw
