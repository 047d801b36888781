#include "cli/bench_clones.h"

#include <cstdio>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/process_memory.h"
#include "engine/guest_paths.h"
#include "engine/sandbox_process.h"
#include "engine/vmm_spares.h"
#include "memory/shared_image.h"
#include "snapshot/page_store_reader.h"

namespace thaw::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Clone {
  std::unique_ptr<engine::SandboxProcess> process;
  double ms = 0;
  std::vector<RestorePhase> phases;
  std::string error;
};

// Restores one clone and waits for its first response.
void restore_clone(Clone& c, const std::string& vmm, const std::string& snapshot_dir,
                   const std::shared_ptr<memory::SharedImage>& image, engine::VmmSpares* spares,
                   const engine::SandboxOptions& options) {
  try {
    auto t0 = Clock::now();
    c.process = engine::SandboxProcess::restore({vmm, nullptr, nullptr, image, spares}, snapshot_dir, options);
    engine::InvokeRequest req;
    req.payload = R"({"bench": "clones"})";
    auto r = c.process->invoke(req, std::chrono::seconds(60));
    if (r.status != engine::InvokeResult::Status::kSuccess)
      throw Error("the clone's first invocation failed: " + r.error_type + " " + r.body.substr(0, 300));
    c.ms = ms_since(t0);
    c.phases = r.report.start.phases;
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

// With `spares`: n spare VMM processes are started, and are all ready, before the clock starts.
std::vector<Clone> restore_at_once(unsigned n, const std::string& vmm, const std::string& snapshot_dir,
                                   const std::shared_ptr<memory::SharedImage>& image, bool spares,
                                   const engine::SandboxOptions& options) {
  std::optional<engine::VmmSpares> ready;
  if (spares) {
    ready.emplace(vmm, n);
    auto deadline = Clock::now() + std::chrono::seconds(120);
    while (ready->ready() < n) {
      if (Clock::now() > deadline) throw Error("bench coldstart: spare VMM processes did not start within 120 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  engine::VmmSpares* from = ready ? &*ready : nullptr;
  std::vector<Clone> clones(n);
  std::vector<std::thread> threads;
  for (auto& c : clones)
    threads.emplace_back([clone = &c, &vmm, &snapshot_dir, &image, from, &options] {
      restore_clone(*clone, vmm, snapshot_dir, image, from, options);
    });
  for (auto& t : threads) t.join();
  for (const auto& c : clones)
    if (!c.error.empty()) throw Error("bench coldstart: a concurrent restore of " + snapshot_dir + ": " + c.error);
  return clones;
}

}  // namespace

ClonesResult measure_clones(const std::string& snapshot_dir, unsigned clones, unsigned reps, bool shared,
                            bool spares, const engine::SandboxOptions& options) {
  const std::string vmm = engine::find_vmm_executable("");
  const std::string how = std::string(shared ? "sharing one copy" : "each with its own copy") +
                          (spares ? ", in spare VMM processes" : ", in new VMM processes");
  ClonesResult r;
  r.clones = clones;
  r.shared = shared;
  r.spares = spares;
  // A new shared copy per round, so that every round starts from an empty one, as the first
  // clones of a snapshot on a host do.
  auto new_image = [&]() -> std::shared_ptr<memory::SharedImage> {
    if (!shared) return nullptr;
    auto pages = snapshot::PageStoreReader::open(snapshot_dir);
    return std::make_shared<memory::SharedImage>(
        memory::SharedImage::create(pages->page_count(), pages->pages_per_chunk(), "thaw-bench-image"));
  };
  for (unsigned i = 0; i < reps; ++i) {
    std::fprintf(stderr, "bench coldstart: a lone clone (%s) %u/%u\n", how.c_str(), i + 1, reps);
    auto one = restore_at_once(1, vmm, snapshot_dir, new_image(), spares, options);
    r.single_restore_ms.v.push_back(one[0].ms);
    for (const auto& p : one[0].phases) r.single_phases_ms[p.name].v.push_back(p.ms);
    r.single = memory_of(one);
  }
  for (unsigned i = 0; i < reps; ++i) {
    std::fprintf(stderr, "bench coldstart: %u clones at once (%s) %u/%u\n", clones, how.c_str(), i + 1, reps);
    auto image = new_image();
    auto all = restore_at_once(clones, vmm, snapshot_dir, image, spares, options);
    for (const auto& c : all) r.concurrent_restore_ms.v.push_back(c.ms);
    r.concurrent = memory_of(all);
    if (image) r.image_mib = double(image->filled_bytes()) / (1 << 20);
  }
  return r;
}

}  // namespace thaw::cli
