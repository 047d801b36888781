// thaw::Engine's background work: building the image of $LATEST after every create or update,
// and the SnapStart snapshot of every version published with ApplyOn PublishedVersions. One
// worker thread takes the jobs in order; each job's result is recorded only if the version
// did not change meanwhile (a newer job then follows it).
#include <spdlog/spdlog.h>

#include "engine/engine_impl.h"
#include "snapshot/repack.h"
#include "snapshot/working_set.h"

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
    changed.wait(lock, [&] { return stopping || !jobs.empty() || !repacks.empty(); });
    if (stopping) return;
    ++jobs_running;
    if (!jobs.empty()) {
      auto [name, version] = jobs.front();
      jobs.pop_front();
      lock.unlock();
      try {
        run_job(name, version);
      } catch (const std::exception& e) {
        spdlog::error("engine: building {}:{} failed unexpectedly: {}", name, version, e.what());
      }
    } else {
      std::string dir = repacks.front();
      repacks.pop_front();
      lock.unlock();
      run_repack(dir);
    }
    lock.lock();
    ++chunk_store_generation;
    if (--jobs_running == 0 && packs_gc_pending) collect_packs();
    changed.notify_all();  // wait_for_background_work
  }
}

void Engine::Impl::queue_repack(const std::string& snapshot_dir) {
  if (options.snapshot_zstd_level <= 0 || options.build_workers == 0) return;
  if (!repacks_seen.insert(snapshot_dir).second) return;
  repacks.push_back(snapshot_dir);
  changed.notify_all();
}

void Engine::Impl::run_repack(const std::string& snapshot_dir) {
  try {
    auto working_set = snapshot::load_working_set(snapshot_dir);
    if (!working_set) {
      // Not recorded (yet): the next restored invocation queues it again.
      std::lock_guard lock(mu);
      repacks_seen.erase(snapshot_dir);
      return;
    }
    snapshot::RepackOptions ro;
    ro.zstd_level = options.snapshot_zstd_level;
    ro.threads = 1;  // a background job: leave the other cores to the sandboxes
    ro.stop = &stop_repack;
    ro.shared_packs = packs_in_use(snapshot_dir);  // what other snapshots share stays shared
    auto st = snapshot::repack_page_store(snapshot_dir, *working_set, ro);
    if (!st.repacked) return;
    spdlog::info("snapshot {}: re-encoded around its working set in {:.1f} s: {} chunks lz4, {} zstd, {} left "
                 "shared; {:.1f} MiB -> {:.1f} MiB",
                 snapshot_dir, st.seconds, st.hot_chunks, st.cold_chunks, st.kept_chunks,
                 double(st.bytes_before) / (1 << 20), double(st.bytes_after) / (1 << 20));
    std::lock_guard lock(mu);
    packs_gc_pending = true;  // its old packs may now be unreferenced
  } catch (const std::exception& e) {
    // The snapshot stays as it was, lz4 throughout, and restores as before.
    if (stop_repack)
      spdlog::info("snapshot {}: re-encoding left for later: the engine is stopping", snapshot_dir);
    else
      spdlog::warn("snapshot {}: re-encoding around its working set failed: {}", snapshot_dir, e.what());
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
