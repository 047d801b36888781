// thaw::Engine's background work: building the image of $LATEST after every create or update,
// and the SnapStart snapshot of every version published with ApplyOn PublishedVersions. One
// worker thread takes the jobs in order; each job's result is recorded only if the version
// did not change meanwhile (a newer job then follows it).
#include <spdlog/spdlog.h>

#include "engine/engine_impl.h"

namespace thaw {
using engine::FunctionRecord;
using engine::VersionRecord;

void Engine::Impl::enqueue(const std::string& name, const std::string& version) {
  jobs.emplace_back(name, version);
  changed.notify_all();
}

void Engine::Impl::worker_loop() {
  std::unique_lock lock(mu);
  for (;;) {
    changed.wait(lock, [&] { return stopping || !jobs.empty(); });
    if (stopping) return;
    auto [name, version] = jobs.front();
    jobs.pop_front();
    ++jobs_running;
    lock.unlock();
    try {
      run_job(name, version);
    } catch (const std::exception& e) {
      spdlog::error("engine: building {}:{} failed unexpectedly: {}", name, version, e.what());
    }
    lock.lock();
    ++chunk_store_generation;
    if (--jobs_running == 0 && packs_gc_pending) collect_packs();
  }
}

namespace {

// Lambda's StateReasonCode for what went wrong, and a reason a person can act on.
void mark_failed(VersionRecord& v, const std::string& code, const std::string& reason) {
  if (v.state == FunctionState::kPending) v.state = FunctionState::kFailed;
  v.last_update_status = LastUpdateStatus::kFailed;
  v.state_reason = reason;
  v.state_reason_code = code;
}

}  // namespace

void Engine::Impl::run_job(const std::string& name, const std::string& version) {
  VersionRecord v;
  {
    std::lock_guard lock(mu);
    auto it = records.find(name);
    if (it == records.end() || !it->second.find_version(version)) return;  // deleted meanwhile
    v = *it->second.find_version(version);
  }
  VersionRecord done = v;
  bool is_latest = version == engine::kLatest;
  try {
    if (is_latest || done.image.empty()) done.image = builder.build_image(name, done);
    if (!is_latest && done.settings.snap_start == SnapStartApplyOn::kPublishedVersions) {
      auto options = sandbox_options(name, done);
      done.snapshot = builder.take_snapshot(name, done, std::move(options), launch(done));
    }
    done.state = FunctionState::kActive;
    done.last_update_status = LastUpdateStatus::kSuccessful;
    done.state_reason.clear();
    done.state_reason_code.clear();
  } catch (const engine::SandboxError& e) {
    std::string reason = std::string("SnapStart INIT failed (") + e.error_type() + "): " + e.what();
    if (!e.body().empty()) reason += ": " + e.body();
    mark_failed(done, "FunctionError", reason);
  } catch (const std::exception& e) {
    mark_failed(done, is_latest ? "InvalidImage" : "InternalError", e.what());
  }
  if (done.state == FunctionState::kFailed || done.last_update_status == LastUpdateStatus::kFailed)
    spdlog::warn("engine: {}:{} failed: {}", name, version, done.state_reason);

  std::lock_guard lock(mu);
  auto it = records.find(name);
  VersionRecord* current = it == records.end() ? nullptr : it->second.find_version(version);
  if (!current || current->revision_id != v.revision_id) {
    // Changed or deleted while this ran: the result is nobody's.
    release({done});
    return;
  }
  FunctionRecord next = it->second;
  VersionRecord before = *next.find_version(version);
  *next.find_version(version) = done;
  try {
    persist(next);
  } catch (const std::exception& e) {
    spdlog::error("engine: {}:{}: {}", name, version, e.what());
    return;
  }
  it->second = std::move(next);
  refresh_provisioned(it->second);  // a configuration on this version (or an alias of it) can start now
  if (before.image != done.image || before.snapshot != done.snapshot) {
    pool.retire(pool_key(name, before));
    release({before});
  }
}

}  // namespace thaw
