#include "cli/bench_clones.h"

#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/process_memory.h"
#include "engine/guest_paths.h"
#include "engine/sandbox_process.h"

namespace thaw::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Clone {
  std::unique_ptr<engine::SandboxProcess> process;
  double ms = 0;
  std::string error;
};

// Restores one clone and waits for its first response.
void restore_clone(Clone& c, const std::string& vmm, const std::string& snapshot_dir,
                   const engine::SandboxOptions& options) {
  try {
    auto t0 = Clock::now();
    c.process = engine::SandboxProcess::restore({vmm, nullptr, nullptr}, snapshot_dir, options);
    engine::InvokeRequest req;
    req.payload = R"({"bench": "clones"})";
    auto r = c.process->invoke(req, std::chrono::seconds(60));
    if (r.status != engine::InvokeResult::Status::kSuccess)
      throw Error("the clone's first invocation failed: " + r.error_type + " " + r.body.substr(0, 300));
    c.ms = ms_since(t0);
  } catch (const std::exception& e) {
    c.error = e.what();
  }
}

CloneMemory memory_of(const std::vector<Clone>& clones) {
  CloneMemory m;
  for (const auto& c : clones) {
    auto pm = process_memory(c.process->pid());
    m.pss_mib += double(pm.pss_bytes) / (1 << 20);
    m.private_mib += double(pm.private_bytes) / (1 << 20);
    m.rss_mib += double(pm.rss_bytes) / (1 << 20);
  }
  return m;
}

std::vector<Clone> restore_at_once(unsigned n, const std::string& vmm, const std::string& snapshot_dir,
                                   const engine::SandboxOptions& options) {
  std::vector<Clone> clones(n);
  std::vector<std::thread> threads;
  for (auto& c : clones)
    threads.emplace_back([clone = &c, &vmm, &snapshot_dir, &options] { restore_clone(*clone, vmm, snapshot_dir, options); });
  for (auto& t : threads) t.join();
  for (const auto& c : clones)
    if (!c.error.empty()) throw Error("bench coldstart: a concurrent restore of " + snapshot_dir + ": " + c.error);
  return clones;
}

}  // namespace

ClonesResult measure_clones(const std::string& snapshot_dir, unsigned clones, unsigned reps,
                            const engine::SandboxOptions& options) {
  const std::string vmm = engine::find_vmm_executable("");
  ClonesResult r;
  r.clones = clones;
  for (unsigned i = 0; i < reps; ++i) {
    std::fprintf(stderr, "bench coldstart: a lone clone %u/%u\n", i + 1, reps);
    auto one = restore_at_once(1, vmm, snapshot_dir, options);
    r.single_restore_ms.v.push_back(one[0].ms);
    r.single = memory_of(one);
  }
  for (unsigned i = 0; i < reps; ++i) {
    std::fprintf(stderr, "bench coldstart: %u clones at once %u/%u\n", clones, i + 1, reps);
    auto all = restore_at_once(clones, vmm, snapshot_dir, options);
    for (const auto& c : all) r.concurrent_restore_ms.v.push_back(c.ms);
    r.concurrent = memory_of(all);
  }
  return r;
}

}  // namespace thaw::cli
