// thaw bench coldstart [--json] [--plot FILE.png] [--concurrent N]: what SnapStart buys,
// measured side by side in one run. For a hello-world and a heavy-init Python function: cold
// start (boot + INIT + invoke), restore without prefetch, restore with the working set
// prefetched (installed while the guest runs, and installed before it resumes), and a warm
// invocation, each timed to the end of the first response, with the prefetched restore's
// critical path phase by phase (with and without the stage-2 pre-fault where the host kernel
// has it: Linux 6.11+, THAW_KVMHOST_KERNEL=backports for the emulated host), and a later clone
// that maps the snapshot's shared decoded copy an earlier one filled; plus the restore time of one function at several guest memory
// sizes and, with --concurrent, N restores of the heavy snapshot at once in VMM processes of
// their own (time and PSS). Medians of --reps runs, with min and max.
// The default images (build/test-images/) are built first where missing, natively.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include "base/error.h"
#include "cli/bench_clones.h"
#include "cli/bench_stats.h"
#include "cli/commands.h"
#include "engine/guest_paths.h"
#include "engine/sandbox.h"
#include "engine/vmm/kvm.h"
#include "guest/image/function_config.h"
#include "guest/image/image_builder.h"
#include "memory/shared_image.h"
#include "snapshot/page_store_reader.h"
#include "snapshot/repack.h"
#include "snapshot/working_set.h"

namespace thaw::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::ordered_json;

struct BenchColdstartOptions {
  std::string hello, heavy, work;
  std::vector<unsigned> memory_mib{256, 1024, 2048};
  unsigned reps = 3;
  unsigned concurrent = 0;
  bool json = false;
  std::string plot;
};

// Restores with the working set prefetched, in one of the two orders.
struct PrefetchRuns {
  Series restore, warm, first_invoke_duration, warm_duration;
  std::vector<std::string> phase_order;
  std::map<std::string, Series> phases;           // the critical path, phase by phase
  Series ws_read, ws_decode, ws_install;          // prefetch threads' time
  double first_over_warm() const { return first_invoke_duration.median() / warm_duration.median(); }
};

struct FunctionResult {
  Series cold, restore;
  PrefetchRuns overlapped, before_resume;
  PrefetchRuns no_prefault;  // before resume, without the stage-2 pre-fault (hosts that have it)
  // Before resume, a later clone: it maps the snapshot's shared copy (memory/shared_image.h),
  // which an earlier clone filled, as the engine's clones do once a snapshot has run on a host.
  PrefetchRuns from_shared_copy;
  PrefetchRuns from_shared_copy_cow;  // the same, leaving the pages it writes to copy-on-write
  // Before resume, from a copy of the snapshot re-encoded around its working set (the rest in
  // zstd, snapshot/repack.h), as the engine leaves a snapshot after its first restore.
  PrefetchRuns repacked;
  double store_mib = 0, repacked_store_mib = 0;
  // The order SandboxOptions chooses by default.
  const PrefetchRuns& prefetch() const {
    return engine::SandboxOptions{}.working_set_before_resume ? before_resume : overlapped;
  }
};

engine::SandboxOptions quiet_options() {
  engine::SandboxOptions o;
  o.boot_allowance = std::chrono::seconds(300);
  // A benchmark measures how long restores take, however long: N clones at once on a small
  // emulated host take far longer than Lambda's 10 s.
  o.restore_budget = std::chrono::seconds(300);
  o.log = [](std::string_view line) { spdlog::debug("function: {}", line); };
  return o;
}

// Invokes once; throws unless the function answered.
engine::InvokeResult invoke_ok(engine::Sandbox& s) {
  engine::InvokeRequest req;
  req.payload = R"({"bench": true})";
  auto r = s.invoke(req);
  if (r.status != engine::InvokeResult::Status::kSuccess)
    throw Error("bench coldstart: " + s.image().function.name + " failed: " + r.error_type + " " + r.body.substr(0, 300));
  return r;
}

void progress(const std::string& what) { std::fprintf(stderr, "bench coldstart: %s\n", what.c_str()); }

// A default image, built as scripts/build-test-images.sh builds it (same flags, same image id).
struct TestImage {
  const char* name;  // examples/functions/<name>, build/test-images/<name>
  unsigned init_timeout_s;
  unsigned memory_mb;  // 0: the runtime's default
};
constexpr TestImage kHelloImage{"python-hello", 60, 0};
constexpr TestImage kHeavyImage{"python-heavy-init", 120, 512};

void build_test_image(const TestImage& t, const std::string& out) {
  using image::FunctionConfig;
  image::ImageBuildOptions o;
  o.function.runtime = image::Runtime::kPython311;
  o.function.handler = std::string(FunctionConfig::default_handler(o.function.runtime));
  o.function.memory_mb = t.memory_mb ? t.memory_mb : FunctionConfig::default_memory_mb(o.function.runtime);
  o.function.timeout_s = FunctionConfig::kDefaultTimeoutS;
  o.function.init_timeout_s = t.init_timeout_s;
  o.code_dir = installed_or_built(THAW_INSTALL_DATADIR "/thaw/examples", THAW_EXAMPLES_DIR) + "/" + t.name;
  o.out_dir = out;
  auto guest = engine::find_guest_paths("", "");
  o.agent_path = guest.agent;
  o.runtimes_dir = guest.runtimes_dir;
  progress("building the missing image " + out + " from " + o.code_dir);
  try {
    auto r = image::build_image(o, [](std::string_view line) { spdlog::debug("image: {}", line); });
    for (const auto& w : r.warnings) progress("image " + out + ": warning: " + w);
    char took[32];
    std::snprintf(took, sizeof took, "%.1f s", r.seconds);
    progress("built " + out + " in " + took);
  } catch (const Error& e) {
    throw Error("bench coldstart: cannot build its image " + out + ": " + e.what() +
                " (scripts/build-test-images.sh " + exe_dir().string() + " builds it too)");
  }
}

// `image` unless it is a thaw image: the default is built then, a path given is an error.
void ensure_image(const TestImage& t, const std::string& image, const CLI::Option& option) {
  try {
    image::ImageConfig::load(image);
    return;
  } catch (const Error& e) {
    if (option.count() > 0)
      throw Error("bench coldstart: " + option.get_name() + " " + image + ": " + e.what() +
                  "; build it with `thaw image build`, or leave " + option.get_name() + " out to use " +
                  "(and build) the default " + t.name);
  }
  build_test_image(t, image);
}

fs::path take_snapshot(const std::string& image, const fs::path& dir) {
  fs::remove_all(dir);
  auto o = quiet_options();
  o.initialization_type = "snap-start";
  auto s = engine::Sandbox::cold_start(image, o);
  s->checkpoint(dir, image);
  return dir;
}

// One prefetched restore, its first invocation and a warm one.
void measure_prefetch(PrefetchRuns& runs, const fs::path& snap, bool before_resume, bool prefault = true,
                      const memory::SharedImage* image = nullptr, bool copy_written = true) {
  auto o = quiet_options();
  o.working_set_before_resume = before_resume;
  o.stage2_prefault = prefault;
  o.copy_written_pages = copy_written;
  if (image) o.shared_image = image->fds();
  auto t0 = Clock::now();
  auto s = engine::Sandbox::restore(snap, o);
  auto first = invoke_ok(*s);
  runs.restore.v.push_back(ms_since(t0));
  runs.first_invoke_duration.v.push_back(first.report.duration_ms);
  for (const auto& p : first.report.start.phases) {
    if (!runs.phases.contains(p.name)) runs.phase_order.push_back(p.name);
    runs.phases[p.name].v.push_back(p.ms);
  }
  if (auto st = s->memory_stats()) {
    using ms = std::chrono::duration<double, std::milli>;
    runs.ws_read.v.push_back(ms(st->prefetch_read_time).count());
    runs.ws_decode.v.push_back(ms(st->prefetch_decode_time).count());
    runs.ws_install.v.push_back(ms(st->prefetch_install_time).count());
  }
  s->save_written_pages();  // as thaw-vmm does, between the answer and the next request
  auto t1 = Clock::now();
  auto warm = invoke_ok(*s);
  runs.warm.v.push_back(ms_since(t1));
  runs.warm_duration.v.push_back(warm.report.duration_ms);
}

bool host_can_pre_fault() { return vmm::Kvm::open().has_pre_fault_memory(); }

FunctionResult measure_function(const std::string& label, const std::string& image, const fs::path& work,
                                unsigned reps) {
  const bool prefault = host_can_pre_fault();
  FunctionResult r;
  for (unsigned i = 0; i < reps; ++i) {
    progress(label + ": cold start " + std::to_string(i + 1) + "/" + std::to_string(reps));
    auto t0 = Clock::now();
    auto s = engine::Sandbox::cold_start(image, quiet_options());
    invoke_ok(*s);
    r.cold.v.push_back(ms_since(t0));
  }
  progress(label + ": snapshot");
  fs::path snap = take_snapshot(image, fs::path(work) / ("snapshot-" + label));

  // Without prefetch; the first of these records the working set the next ones prefetch.
  for (unsigned i = 0; i < reps; ++i) {
    progress(label + ": restore without prefetch " + std::to_string(i + 1) + "/" + std::to_string(reps));
    auto o = quiet_options();
    o.prefetch = false;
    auto t0 = Clock::now();
    auto s = engine::Sandbox::restore(snap, o);
    invoke_ok(*s);
    r.restore.v.push_back(ms_since(t0));
  }
  // The shared copy's first clone fills it (with the working set, and what it touches after).
  std::optional<memory::SharedImage> copy;
  if (memory::SharedImage::supported()) {
    auto pages = snapshot::PageStoreReader::open(snap);
    copy.emplace(memory::SharedImage::create(pages->page_count(), pages->pages_per_chunk(), "thaw-bench-" + label));
    PrefetchRuns first_clone;
    measure_prefetch(first_clone, snap, true, true, &*copy);
  }
  fs::path repacked = fs::path(work) / ("snapshot-" + label + "-repacked");
  fs::remove_all(repacked);
  fs::copy(snap, repacked, fs::copy_options::recursive);
  if (auto ws = snapshot::load_working_set(repacked)) {
    progress(label + ": re-encoding a copy of the snapshot around its working set");
    auto st = snapshot::repack_page_store(repacked, *ws);
    r.store_mib = static_cast<double>(st.bytes_before) / (1 << 20);
    r.repacked_store_mib = static_cast<double>(st.bytes_after) / (1 << 20);
  }
  // The variants alternate, so that drift in the host's speed falls on all alike.
  for (unsigned i = 0; i < reps; ++i) {
    progress(label + ": restore with prefetch " + std::to_string(i + 1) + "/" + std::to_string(reps));
    measure_prefetch(r.overlapped, snap, false);
    measure_prefetch(r.before_resume, snap, true);
    if (prefault) measure_prefetch(r.no_prefault, snap, true, false);
    if (copy) measure_prefetch(r.from_shared_copy, snap, true, true, &*copy);
    if (copy) measure_prefetch(r.from_shared_copy_cow, snap, true, true, &*copy, false);
    if (r.repacked_store_mib > 0) measure_prefetch(r.repacked, repacked, true);
  }
  return r;
}

// A copy of `image` whose function has `mib` of memory (the initramfs is linked, not copied).
std::string image_with_memory(const std::string& image, unsigned mib, const fs::path& work) {
  auto config = image::ImageConfig::load(image);
  if (config.function.memory_mb == mib) return image;
  fs::path dir = work / ("image-" + std::to_string(mib) + "mib");
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::create_symlink(fs::absolute(config.initramfs_path(image)), dir / config.initramfs.path);
  config.kernel.path = fs::absolute(config.kernel_path(image)).string();
  config.kernel.copied = false;
  config.function.memory_mb = mib;
  config.image_id = config.compute_image_id();
  std::ofstream(dir / "config.json") << config.to_json().dump(2) << "\n";
  return dir.string();
}

ordered_json medians(const PrefetchRuns& p) {
  ordered_json j = ordered_json::object();
  for (const auto& name : p.phase_order) j[name] = p.phases.at(name).median();
  return j;
}

ordered_json function_json(const FunctionResult& f) {
  auto spread = [](const Series& s) { return ordered_json{{"min", s.min()}, {"max", s.max()}}; };
  const PrefetchRuns& p = f.prefetch();
  auto order = [](const PrefetchRuns& r) {
    return ordered_json{{"restore_prefetch", r.restore.median()},
                        {"first_invoke_over_warm_duration", r.first_over_warm()},
                        {"phases_ms", medians(r)}};
  };
  return {{"cold", f.cold.median()},
          {"restore", f.restore.median()},
          {"restore_prefetch", p.restore.median()},
          {"warm", p.warm.median()},
          {"first_invoke_duration_ms", p.first_invoke_duration.median()},
          {"warm_duration_ms", p.warm_duration.median()},
          {"phases_ms", medians(p)},
          {"working_set_threads_ms",
           {{"read", p.ws_read.median()}, {"decode", p.ws_decode.median()}, {"install", p.ws_install.median()}}},
          {"working_set_order",
           {{"default", engine::SandboxOptions{}.working_set_before_resume ? "before_resume" : "overlapped"},
            {"overlapped", order(f.overlapped)},
            {"before_resume", order(f.before_resume)}}},
          {"from_shared_copy", f.from_shared_copy.restore.v.empty() ? ordered_json(nullptr) : order(f.from_shared_copy)},
          {"from_shared_copy_written_left_to_cow",
           f.from_shared_copy_cow.restore.v.empty() ? ordered_json(nullptr) : order(f.from_shared_copy_cow)},
          {"repacked",
           f.repacked.restore.v.empty()
               ? ordered_json(nullptr)
               : ordered_json{{"store_mib", f.store_mib}, {"repacked_store_mib", f.repacked_store_mib},
                              {"restore", order(f.repacked)}}},
          {"stage2_prefault",
           f.no_prefault.restore.v.empty()
               ? ordered_json{{"available", false}}
               : ordered_json{{"available", true}, {"with", order(f.before_resume)}, {"without", order(f.no_prefault)}}},
          {"spread", {{"cold", spread(f.cold)},
                      {"restore", spread(f.restore)},
                      {"restore_prefetch", spread(p.restore)},
                      {"warm", spread(p.warm)}}}};
}

std::string cell(const Series& s) {
  char b[64];
  std::snprintf(b, sizeof b, "%.1f (%.0f..%.0f)", s.median(), s.min(), s.max());
  return b;
}

void print_phases(const std::string& name, const PrefetchRuns& p) {
  std::printf("  %-6s", name.c_str());
  double total = 0;
  for (const auto& phase : p.phase_order) {
    double ms = p.phases.at(phase).median();
    total += ms;
    std::printf(" %s %.1f", phase.c_str(), ms);
  }
  std::printf("  (sum %.1f ms; prefetch threads: read %.1f, decode %.1f, install %.1f ms)\n", total,
              p.ws_read.median(), p.ws_decode.median(), p.ws_install.median());
}

void print_table(const std::map<std::string, FunctionResult>& results, const std::map<unsigned, Series>& by_memory,
                 const std::vector<ClonesResult>& clones, unsigned reps) {
  std::printf("thaw bench coldstart: medians of %u runs, ms to the end of the first response (min..max)\n\n", reps);
  std::printf("%-8s %22s %22s %22s %22s %22s\n", "function", "cold", "restore", "prefetch overlapped",
              "prefetch before resume", "warm");
  for (const auto& [name, f] : results)
    std::printf("%-8s %22s %22s %22s %22s %22s\n", name.c_str(), cell(f.cold).c_str(), cell(f.restore).c_str(),
                cell(f.overlapped.restore).c_str(), cell(f.before_resume.restore).c_str(),
                cell(f.prefetch().warm).c_str());
  std::printf("\ncritical path of a prefetched restore (default order), median ms per phase\n");
  for (const auto& [name, f] : results) print_phases(name, f.prefetch());
  std::printf("\nratios\n");
  for (const auto& [name, f] : results) {
    const PrefetchRuns& p = f.prefetch();
    std::printf("  %-6s cold / restore+prefetch   %6.1fx\n", name.c_str(), f.cold.median() / p.restore.median());
    std::printf("  %-6s restore / restore+prefetch %5.2fx\n", name.c_str(), f.restore.median() / p.restore.median());
    std::printf("  %-6s prefetch before resume / overlapped %5.2fx\n", name.c_str(),
                f.before_resume.restore.median() / f.overlapped.restore.median());
    std::printf("  %-6s first Duration after prefetched restore / warm Duration  %.2fx overlapped, %.2fx before "
                "resume\n",
                name.c_str(), f.overlapped.first_over_warm(), f.before_resume.first_over_warm());
    if (!f.from_shared_copy.restore.v.empty())
      std::printf("  %-6s cold / restore+prefetch of a later clone (mapping the shared copy) %6.1fx; first Duration / "
                  "warm %.2fx\n",
                  name.c_str(), f.cold.median() / f.from_shared_copy.restore.median(), f.from_shared_copy.first_over_warm());
    if (!f.from_shared_copy_cow.restore.v.empty())
      std::printf("  %-6s later clone, written pages copied before resume / left to copy-on-write: restore %.1f vs "
                  "%.1f ms, first Duration / warm %.2fx vs %.2fx\n",
                  name.c_str(), f.from_shared_copy.restore.median(), f.from_shared_copy_cow.restore.median(),
                  f.from_shared_copy.first_over_warm(), f.from_shared_copy_cow.first_over_warm());
    if (!f.repacked.restore.v.empty())
      std::printf("  %-6s re-encoded around the working set: store %.1f -> %.1f MiB; restore+prefetch %.1f vs %.1f ms "
                  "(lz4 throughout)\n",
                  name.c_str(), f.store_mib, f.repacked_store_mib, f.repacked.restore.median(),
                  f.before_resume.restore.median());
    if (f.no_prefault.restore.v.empty())
      std::printf("  %-6s stage-2 pre-fault: not on this host kernel (Linux 6.11+)\n", name.c_str());
    else
      std::printf("  %-6s stage-2 pre-fault: first Duration / warm %.2fx with, %.2fx without; restore %.1f vs %.1f ms\n",
                  name.c_str(), f.before_resume.first_over_warm(), f.no_prefault.first_over_warm(),
                  f.before_resume.restore.median(), f.no_prefault.restore.median());
  }
  if (!by_memory.empty()) {
    std::printf("\nrestore (with prefetch, until the runtime is ready) by guest memory size\n");
    double base = by_memory.begin()->second.median();
    for (const auto& [mib, s] : by_memory)
      std::printf("  %5u MiB  %8.1f ms  %.2fx of %u MiB\n", mib, s.median(), s.median() / base, by_memory.begin()->first);
  }
  for (const auto& c : clones) {
    std::printf("\nheavy: %u clones restored at once, each in its own VMM process (%s), %s\n", c.clones,
                c.spares ? "spares started before" : "spawned for it",
                c.shared ? "sharing one decoded copy" : "each decoding its own copy");
    auto phase = [&](const char* name) {
      auto it = c.single_phases_ms.find(name);
      return it == c.single_phases_ms.end() ? 0.0 : it->second.median();
    };
    std::printf("  the lone clone's vmm_process / vm_create / state_restore phases: p50 %.1f / %.1f / %.1f ms\n",
                phase("vmm_process"), phase("vm_create"), phase("state_restore"));
    std::printf("  restore to first response: alone p50 %.1f ms; together p50 %.1f ms, p99 %.1f ms (p99 / alone p50 "
                "%.2fx)\n",
                c.single_restore_ms.median(), c.concurrent_restore_ms.median(), c.concurrent_restore_ms.percentile(99),
                c.concurrent_restore_ms.percentile(99) / c.single_restore_ms.median());
    std::printf("  PSS: alone %.1f MiB; together %.1f MiB (%.2fx of one; private %.1f MiB); shared copy %.1f MiB\n",
                c.single.pss_mib, c.concurrent.pss_mib, c.concurrent.pss_mib / c.single.pss_mib,
                c.concurrent.private_mib, c.image_mib);
  }
}

ordered_json single_phases(const ClonesResult& c) {
  ordered_json j = ordered_json::object();
  for (const auto& [name, series] : c.single_phases_ms) j[name] = series.median();
  return j;
}

ordered_json clones_json(const ClonesResult& c) {
  return {{"clones", c.clones},
          {"spare_vmm_processes", c.spares},
          {"single_restore_ms", c.single_restore_ms.median()},
          {"single_phases_ms", single_phases(c)},
          {"concurrent_restore_ms",
           {{"p50", c.concurrent_restore_ms.median()}, {"p99", c.concurrent_restore_ms.percentile(99)}}},
          {"single_pss_mib", c.single.pss_mib},
          {"concurrent_pss_mib", c.concurrent.pss_mib},
          {"concurrent_private_mib", c.concurrent.private_mib},
          {"concurrent_rss_mib", c.concurrent.rss_mib},
          {"p99_over_single_p50", c.concurrent_restore_ms.percentile(99) / c.single_restore_ms.median()},
          {"pss_over_single", c.concurrent.pss_mib / c.single.pss_mib},
          {"shared_copy_mib", c.image_mib}};
}

// Two charts side by side: the four ways to the first response (log scale), and the prefetched
// restore's critical path stacked phase by phase.
void draw_plot(const std::string& file, const std::map<std::string, FunctionResult>& results, const fs::path& work) {
  fs::path data = work / "coldstart.dat", phases = work / "coldstart-phases.dat", script = work / "coldstart.gp";
  {
    std::ofstream d(data);
    d << "function cold restore restore_prefetch warm\n";
    for (const auto& [name, f] : results)
      d << name << " " << f.cold.median() << " " << f.restore.median() << " " << f.prefetch().restore.median() << " "
        << f.prefetch().warm.median() << "\n";
  }
  std::vector<std::string> order;
  for (const auto& [name, f] : results)
    for (const auto& p : f.prefetch().phase_order)
      if (std::find(order.begin(), order.end(), p) == order.end()) order.push_back(p);
  {
    std::ofstream d(phases);
    d << "function";
    for (const auto& p : order) d << " " << p;
    d << "\n";
    for (const auto& [name, f] : results) {
      d << name;
      for (const auto& p : order) d << " " << (f.prefetch().phases.contains(p) ? f.prefetch().phases.at(p).median() : 0);
      d << "\n";
    }
  }
  {
    std::ofstream g(script);
    g << "set terminal pngcairo size 1400,560 noenhanced\n"
      << "set output '" << fs::absolute(file).string() << "'\n"
      << "set multiplot layout 1,2\n"
      << "set title 'time to the end of the first response (median, log scale)'\n"
      << "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
      << "set logscale y\nset ylabel 'ms'\nset key top right\nset grid ytics\n"
      << "plot '" << data.string() << "' using 2:xtic(1) title columnheader, '' using 3 title columnheader, "
      << "'' using 4 title columnheader, '' using 5 title columnheader\n"
      << "unset logscale y\nset title 'restore with prefetch: critical path by phase (median)'\n"
      << "set style histogram rowstacked\nset boxwidth 0.5\nset key outside right\n"
      << "plot for [i=2:" << order.size() + 1 << "] '" << phases.string()
      << "' using i:xtic(1) title columnheader(i)\n"
      << "unset multiplot\n";
  }
  // Fontconfig wants a writable cache; inside the emulated KVM host the home directory is read-only.
  std::string cmd = "XDG_CACHE_HOME='" + fs::absolute(work).string() + "' gnuplot '" + script.string() + "'";
  if (std::system(cmd.c_str()) != 0)
    throw Error("--plot: gnuplot failed or is missing (apt-get install gnuplot-nox); data and script are in " +
                work.string());
}

// The sizes take turns, rep by rep, so that drift in the host's speed falls on all alike; twice
// --reps samples each, since the differences sought are small beside a restore's spread.
std::map<unsigned, Series> measure_by_memory(const BenchColdstartOptions& o) {
  std::map<unsigned, fs::path> snapshots;
  for (unsigned mib : o.memory_mib) {
    progress("restore at " + std::to_string(mib) + " MiB: snapshot");
    std::string img = image_with_memory(o.hello, mib, o.work);
    fs::path snap = take_snapshot(img, fs::path(o.work) / ("snapshot-hello-" + std::to_string(mib) + "mib"));
    auto s = engine::Sandbox::restore(snap, quiet_options());  // records the working set
    invoke_ok(*s);
    snapshots[mib] = snap;
  }
  std::map<unsigned, Series> by_memory;
  for (unsigned i = 0; i < 2 * o.reps; ++i) {
    progress("restore by memory size " + std::to_string(i + 1) + "/" + std::to_string(2 * o.reps));
    for (const auto& [mib, snap] : snapshots) {
      auto t0 = Clock::now();
      auto s = engine::Sandbox::restore(snap, quiet_options());
      by_memory[mib].v.push_back(ms_since(t0));
    }
  }
  return by_memory;
}

void print_json(const std::map<std::string, FunctionResult>& results, const std::map<unsigned, Series>& by_memory,
                const std::vector<ClonesResult>& clones, unsigned reps) {
  ordered_json j;
  for (const auto& [name, f] : results) j[name] = function_json(f);
  ordered_json mem = ordered_json::object();
  for (const auto& [mib, s] : by_memory) mem[std::to_string(mib)] = s.median();
  j["restore_by_memory_ms"] = mem;
  const auto& heavy = results.at("heavy");
  const auto& hello = results.at("hello");
  j["ratios"] = {{"heavy_cold_over_restore_prefetch", heavy.cold.median() / heavy.prefetch().restore.median()},
                 {"hello_cold_over_restore_prefetch", hello.cold.median() / hello.prefetch().restore.median()},
                 {"heavy_first_invoke_over_warm_duration", heavy.prefetch().first_over_warm()}};
  if (!heavy.from_shared_copy.restore.v.empty()) {
    j["ratios"]["heavy_cold_over_restore_prefetch_from_shared_copy"] =
        heavy.cold.median() / heavy.from_shared_copy.restore.median();
    j["ratios"]["heavy_first_invoke_over_warm_duration_from_shared_copy"] = heavy.from_shared_copy.first_over_warm();
    if (!heavy.from_shared_copy_cow.restore.v.empty())
      j["ratios"]["heavy_first_invoke_over_warm_duration_from_shared_copy_without_copying_written"] =
          heavy.from_shared_copy_cow.first_over_warm();
  }
  if (!heavy.repacked.restore.v.empty()) {
    j["ratios"]["heavy_restore_prefetch_repacked_over_lz4"] =
        heavy.repacked.restore.median() / heavy.before_resume.restore.median();
    j["ratios"]["heavy_repacked_store_over_lz4_store"] = heavy.repacked_store_mib / heavy.store_mib;
  }
  if (!heavy.no_prefault.restore.v.empty())
    j["ratios"]["heavy_first_invoke_over_warm_duration_without_prefault"] = heavy.no_prefault.first_over_warm();
  if (by_memory.size() > 1)
    j["ratios"]["restore_largest_over_smallest_memory"] =
        by_memory.rbegin()->second.median() / by_memory.begin()->second.median();
  // "concurrent": as the engine runs them (shared copy, spare processes); the others differ in one way each.
  for (const auto& clone_run : clones) {
    auto c = clones_json(clone_run);
    const char* key = !clone_run.shared  ? "concurrent_unshared"
                      : clone_run.spares ? "concurrent"
                                         : "concurrent_without_spares";
    if (clone_run.shared && clone_run.spares) {
      j["concurrent_restore_ms"] = c["concurrent_restore_ms"];
      j["concurrent_pss_mib"] = c["concurrent_pss_mib"];
    }
    j[key] = c;
  }
  j["reps"] = reps;
  std::printf("%s\n", j.dump(2).c_str());
}

int run_bench_coldstart(const BenchColdstartOptions& o) {
  fs::create_directories(o.work);
  std::map<std::string, FunctionResult> results;
  results["hello"] = measure_function("hello", o.hello, o.work, o.reps);
  results["heavy"] = measure_function("heavy", o.heavy, o.work, o.reps);
  // The clones the engine makes (sharing where the kernel allows, in spare VMM processes), then,
  // for comparison, in processes spawned for them, and each with its own copy.
  std::vector<ClonesResult> clones;
  std::string heavy_snapshot = (fs::path(o.work) / "snapshot-heavy").string();
  if (o.concurrent > 0) {
    bool share = memory::SharedImage::supported();
    clones.push_back(measure_clones(heavy_snapshot, o.concurrent, o.reps, share, true, quiet_options()));
    clones.push_back(measure_clones(heavy_snapshot, o.concurrent, o.reps, share, false, quiet_options()));
    if (share) clones.push_back(measure_clones(heavy_snapshot, o.concurrent, o.reps, false, false, quiet_options()));
  }
  auto by_memory = measure_by_memory(o);

  if (o.json)
    print_json(results, by_memory, clones, o.reps);
  else
    print_table(results, by_memory, clones, o.reps);
  if (!o.plot.empty()) {
    draw_plot(o.plot, results, o.work);
    std::fprintf(stderr, "bench coldstart: chart written to %s\n", o.plot.c_str());
  }
  return 0;
}

}  // namespace

Command add_bench_coldstart_command(CLI::App& app) {
  CLI::App* bench = bench_group(app);
  auto* sub = bench->add_subcommand("coldstart", "cold start vs restore vs restore+prefetch vs warm (SnapStart)");
  auto o = std::make_shared<BenchColdstartOptions>();
  fs::path build = exe_dir();
  o->hello = (build / "test-images" / "python-hello").string();
  o->heavy = (build / "test-images" / "python-heavy-init").string();
  o->work = (build / "bench-coldstart").string();
  auto* hello = sub->add_option("--hello", o->hello, "image of the hello-world function (default: built if missing)")
                    ->capture_default_str();
  auto* heavy = sub->add_option("--heavy", o->heavy, "image of the heavy-init function (default: built if missing)")
                    ->capture_default_str();
  sub->add_option("--work", o->work, "directory for snapshots and image variants")->capture_default_str();
  sub->add_option("--memory", o->memory_mib, "guest memory sizes (MiB) for the restore-by-memory sweep")
      ->capture_default_str()
      ->delimiter(',');
  sub->add_option("--reps", o->reps, "repetitions of each measurement")->capture_default_str()->check(CLI::Range(1, 100));
  sub->add_option("--concurrent", o->concurrent,
                  "also restore the heavy snapshot N times at once, each clone in its own VMM process "
                  "(restore p50/p99 and their PSS; 0: skip)")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  sub->add_flag("--json", o->json, "print one JSON object");
  sub->add_option("--plot", o->plot, "also draw a chart to this PNG file (needs gnuplot)");
  // Images are built before the command moves into the emulated KVM host, where reading the
  // Python stdlib over 9p is slow.
  auto prepare = [o, hello, heavy] {
    ensure_image(kHelloImage, o->hello, *hello);
    ensure_image(kHeavyImage, o->heavy, *heavy);
  };
  return {sub, true, [o] { return run_bench_coldstart(*o); }, prepare};
}

}  // namespace thaw::cli
