// thaw bench pool [--reps N] [--json]: what the engine adds, measured side by side in one run.
//  - warm invocations of one function through thaw::Engine and through a Sandbox directly: the
//    engine's overhead (qualifier resolution, the pool, log routing);
//  - invocations that need a new sandbox: restored from the version's SnapStart snapshot vs
//    cold-started ($LATEST), each after the pool's idle sandboxes were released.
// p50 and p99 over --reps invocations each (needs KVM).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "base/error.h"
#include "cli/bench_stats.h"
#include "cli/commands.h"
#include "cli/global_options.h"
#include "engine/sandbox.h"
#include "thaw/engine.h"

namespace thaw::cli {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct BenchPoolOptions {
  unsigned reps = 20;
  std::string work;
  bool json = false;
  bool warm_only = false;   // skip new sandboxes and the second version
  bool no_cgroups = false;  // VMM processes without their cgroups (to see what the groups cost)
};

void progress(const std::string& what) { std::fprintf(stderr, "bench pool: %s\n", what.c_str()); }

// `once` timed `reps` times; `before` (untimed) runs ahead of each.
template <typename F, typename B = void (*)()>
Series measure(unsigned reps, F&& once, B&& before = [] {}) {
  Series s;
  for (unsigned i = 0; i < reps; ++i) {
    before();
    auto t0 = Clock::now();
    once();
    s.v.push_back(ms_since(t0));
  }
  return s;
}

void check(const InvokeResult& r) {
  if (!r.function_error.empty()) throw Error("bench pool: the invocation failed: " + r.error_type + " " + r.payload);
}

int run_bench_pool(const BenchPoolOptions& o) {
  fs::remove_all(o.work);
  EngineOptions eo;
  eo.data_dir = (fs::path(o.work) / "data").string();
  eo.init_timeout = std::chrono::seconds(60);  // a software CPU, where there is no /dev/kvm
  eo.boot_allowance = std::chrono::seconds(300);
  if (o.no_cgroups) eo.cgroup_parent = "none";
  Engine engine(eo);
  std::string code = installed_or_built(THAW_INSTALL_DATADIR "/thaw/examples", THAW_EXAMPLES_DIR) + "/python-hello";
  FunctionSettings fs_;
  fs_.runtime = "python3.11";
  fs_.snap_start = SnapStartApplyOn::kPublishedVersions;
  progress("creating python-hello and publishing it (SnapStart snapshot)");
  engine.create_function("hello", fs_, {.directory = code});
  auto latest = engine.wait_until_ready("hello");
  FunctionInfo v1;
  if (!o.warm_only) {
    v1 = engine.publish_version("hello");
    engine.wait_until_ready("hello", v1.version);
  }
  const std::string payload = R"({"bench": "pool"})";

  // Both warm sandboxes exist before either is timed, and their invocations alternate: the
  // software CPU's and the host's moods fall on both alike.
  progress("a warm sandbox through the engine, and one through a Sandbox directly");
  check(engine.invoke({.function = "hello", .payload = payload}));
  auto image = (fs::path(eo.data_dir) / "images").string();
  std::string image_dir;
  for (const auto& e : fs::directory_iterator(image)) image_dir = e.path().string();
  engine::SandboxOptions so;
  so.boot_allowance = eo.boot_allowance;
  so.init_timeout = eo.init_timeout;
  so.log = [](std::string_view l) { spdlog::debug("function: {}", l); };
  auto sandbox = engine::Sandbox::cold_start(image_dir, so);
  engine::InvokeRequest req;
  req.payload = payload;
  sandbox->invoke(req);
  progress("warm invocations, alternating between the two");
  Series engine_warm, direct_warm;
  for (unsigned i = 0; i < o.reps; ++i) {
    auto t0 = Clock::now();
    check(engine.invoke({.function = "hello", .payload = payload}));
    engine_warm.v.push_back(ms_since(t0));
    t0 = Clock::now();
    auto r = sandbox->invoke(req);
    direct_warm.v.push_back(ms_since(t0));
    if (r.status != engine::InvokeResult::Status::kSuccess) throw Error("bench pool: direct invocation failed: " + r.body);
  }
  sandbox->shutdown();
  double overhead = direct_warm.median() > 0 ? (engine_warm.median() / direct_warm.median() - 1) * 100 : 0;
  auto pct = [](const Series& s) { return nlohmann::json{{"p50_ms", s.median()}, {"p99_ms", s.percentile(99)}, {"n", s.v.size()}}; };
  auto row = [](const char* what, const Series& s) {
    std::printf("  %-34s p50 %9.2f ms   p99 %9.2f ms   (n=%zu)\n", what, s.median(), s.percentile(99), s.v.size());
  };
  auto print_warm = [&] {
    std::printf("bench pool: python-hello, %u invocations each%s\n", o.reps,
                o.no_cgroups ? " (VMM processes without cgroups)" : "");
    row("warm, through thaw::Engine", engine_warm);
    row("warm, through a Sandbox directly", direct_warm);
    std::printf("  engine overhead on a warm invoke: %+.1f %% (p50)\n", overhead);
  };
  if (o.warm_only) {
    if (o.json)
      std::cout << nlohmann::json{{"warm_engine", pct(engine_warm)}, {"warm_sandbox", pct(direct_warm)},
                                  {"engine_overhead_percent", overhead}}.dump(2)
                << std::endl;
    else
      print_warm();
    return 0;
  }

  progress("new sandboxes: restored (version " + v1.version + ") and cold ($LATEST)");
  auto fresh = [&](const std::string& qualifier) {
    // The previous sandbox's SHUTDOWN (up to the runtime's 2 s after SIGTERM) is not timed.
    return measure(
        o.reps, [&] { check(engine.invoke({.function = "hello", .qualifier = qualifier, .payload = payload})); },
        [&] { engine.release_idle_sandboxes("hello"); });
  };
  auto restored = fresh(v1.version);
  auto cold = fresh("$LATEST");

  // A second version whose snapshot shares the kernel, runtime and libraries with the first:
  // the chunk store keeps what they share once.
  progress("publishing a second version (new environment) for the chunk store's dedupe");
  FunctionSettingsUpdate u;
  u.environment = std::map<std::string, std::string>{{"BENCH_VERSION", "2"}};
  engine.update_function_configuration("hello", u);
  engine.wait_until_ready("hello");
  auto v2 = engine.publish_version("hello");
  engine.wait_until_ready("hello", v2.version);
  auto st = engine.stats();

  if (o.json) {
    std::cout << nlohmann::json{{"warm_engine", pct(engine_warm)},
                                {"warm_sandbox", pct(direct_warm)},
                                {"engine_overhead_percent", overhead},
                                {"new_restored", pct(restored)},
                                {"new_cold", pct(cold)},
                                {"cold_over_restored", restored.median() > 0 ? cold.median() / restored.median() : 0},
                                {"two_versions_chunk_store_mib", double(st.chunk_store_bytes) / (1 << 20)},
                                {"two_versions_referenced_mib", double(st.snapshot_referenced_bytes) / (1 << 20)},
                                {"two_versions_shared_mib", double(st.shared_chunk_bytes) / (1 << 20)},
                                {"two_versions_unique_mib", double(st.unique_chunk_bytes) / (1 << 20)}}
                     .dump(2)
              << std::endl;
    return 0;
  }
  print_warm();
  row("new sandbox, restored (SnapStart)", restored);
  row("new sandbox, cold start", cold);
  std::printf("  cold / restored: %.1fx (p50)\n", restored.median() > 0 ? cold.median() / restored.median() : 0);
  std::printf("  two published versions: %.1f MiB in the shared chunk store for %.1f MiB of snapshot chunks (%.0f %% saved by sharing)\n",
              double(st.chunk_store_bytes) / (1 << 20), double(st.snapshot_referenced_bytes) / (1 << 20),
              st.snapshot_referenced_bytes ? 100.0 * (1.0 - double(st.chunk_store_bytes) / double(st.snapshot_referenced_bytes)) : 0.0);
  std::printf("  of the stored chunks: %.1f MiB shared by both versions, %.1f MiB unique to one\n",
              double(st.shared_chunk_bytes) / (1 << 20), double(st.unique_chunk_bytes) / (1 << 20));
  return 0;
}

}  // namespace

Command add_bench_pool_command(CLI::App& app) {
  CLI::App* bench = bench_group(app);
  auto* sub = bench->add_subcommand("pool", "the engine's overhead on warm invokes, and new sandboxes restored vs cold");
  auto o = std::make_shared<BenchPoolOptions>();
  o->work = (exe_dir() / "bench-pool").string();
  sub->add_option("--reps", o->reps, "invocations per measurement")->capture_default_str()->check(CLI::Range(2, 10000));
  sub->add_option("--work", o->work, "a scratch data directory (deleted first)")->capture_default_str();
  sub->add_flag("--json", o->json, "print one JSON object");
  sub->add_flag("--warm-only", o->warm_only, "only the warm invocations (no snapshot, no new sandboxes)");
  sub->add_flag("--no-cgroups", o->no_cgroups, "run the VMM processes without their cgroups");
  return {sub, true, [o] { return run_bench_pool(*o); }};
}

}  // namespace thaw::cli
