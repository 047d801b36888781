// thaw invoke NAME[:QUALIFIER] [--payload JSON|@FILE]: an invocation through the engine (a
// function of the data directory: its pool, its versions' snapshots, its aliases).
// thaw invoke IMAGE|SNAPSHOT: for experiments, a cold start of an image directory (boot, INIT)
// or a restore of a snapshot directory (thaw snapshot), then the invocations, then SHUTDOWN.
// Responses go to stdout; the function's logs and the START / END / REPORT lines go to
// stderr, as Lambda writes them to its log stream.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <spdlog/spdlog.h>

#include "base/error.h"
#include "cli/commands.h"
#include "cli/global_options.h"
#include "engine/restore_phases.h"
#include "engine/sandbox.h"
#include "thaw/engine.h"

namespace thaw::cli {
namespace {

struct InvokeArgs {
  std::string target;
  std::string payload = "{}";
  unsigned vcpus = 1;
  unsigned boot_allowance_s = 120;
  unsigned count = 1;
  bool no_prefetch = false;
  bool skip_entropy = false;
  bool json = false;
};

bool is_snapshot(const std::string& dir) { return std::filesystem::exists(std::filesystem::path(dir) / "manifest.json"); }

std::string load_payload(const std::string& p) {
  if (p.empty() || p[0] != '@') return p;
  std::ifstream in(p.substr(1), std::ios::binary);
  if (!in) throw Error("--payload " + p + ": cannot read " + p.substr(1));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool is_directory_target(const std::string& t) {
  return std::filesystem::exists(std::filesystem::path(t) / "config.json") || is_snapshot(t);
}

int run_engine_invoke(const InvokeArgs& a) {
  EngineOptions o = cli_engine_options(0);
  o.boot_allowance = std::chrono::seconds(a.boot_allowance_s);
  Engine engine(o);
  std::string payload = load_payload(a.payload);
  int rc = 0;
  for (unsigned i = 0; i < a.count; ++i) {
    auto r = engine.invoke({.function = a.target, .payload = payload});
    if (a.json) {
      nlohmann::ordered_json phases = nlohmann::ordered_json::object();
      for (const auto& p : r.report.restore_phases) phases[p.name] = p.ms;
      std::cout << nlohmann::ordered_json{{"StatusCode", 200},
                                  {"ExecutedVersion", r.executed_version},
                                  {"RequestId", r.request_id},
                                  {"FunctionError", r.function_error},
                                  {"Payload", r.payload},
                                  {"Start", r.report.start == StartKind::kCold       ? "cold"
                                            : r.report.start == StartKind::kRestored ? "restored"
                                                                                     : "warm"},
                                  {"DurationMs", r.report.duration_ms},
                                  {"InitDurationMs", r.report.init_duration_ms},
                                  {"RestoreDurationMs", r.report.restore_duration_ms},
                                  {"RestorePhasesMs", phases}}
                       .dump()
                << std::endl;
    } else {
      std::cout << r.payload << std::endl;
    }
    if (!r.function_error.empty()) {
      std::fprintf(stderr, "thaw: the invocation failed: %s\n", r.error_type.c_str());
      rc = 1;
    }
  }
  return rc;
}

int run_invoke(const InvokeArgs& a) {
  if (!is_directory_target(a.target)) return run_engine_invoke(a);
  engine::SandboxOptions o;
  o.vcpus = a.vcpus;
  o.boot_allowance = std::chrono::seconds(a.boot_allowance_s);
  o.log = [](std::string_view line) { std::fprintf(stderr, "%.*s\n", int(line.size()), line.data()); };
  o.console = [](std::string_view line) { spdlog::debug("guest: {}", line); };
  o.prefetch = !a.no_prefetch;
  o.hooks.skip_entropy = a.skip_entropy;
  std::string payload = load_payload(a.payload);
  std::unique_ptr<engine::Sandbox> sandbox;
  bool restore = is_snapshot(a.target);
  auto t0 = std::chrono::steady_clock::now();
  try {
    sandbox = restore ? engine::Sandbox::restore(a.target, o) : engine::Sandbox::cold_start(a.target, o);
  } catch (const engine::SandboxError& e) {
    std::fprintf(stderr, "thaw: %s failed: %s (%s)\n", restore ? "restore" : "INIT", e.what(), e.error_type().c_str());
    std::string body = e.body().empty()
                           ? nlohmann::json{{"errorType", e.error_type()}, {"errorMessage", e.what()}}.dump()
                           : e.body();
    std::cout << body << std::endl;
    return 2;
  }
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  spdlog::info("{} in {:.1f} ms", restore ? "restored" : "cold-started (boot + INIT)",
               ms(std::chrono::steady_clock::now() - t0));
  int rc = 0;
  for (unsigned i = 0; i < a.count && sandbox->alive(); ++i) {
    engine::InvokeRequest req;
    req.payload = payload;
    auto t1 = std::chrono::steady_clock::now();
    auto r = sandbox->invoke(req);
    std::cout << r.body << std::endl;
    if (i == 0) spdlog::info("first response {:.1f} ms after the {} began", ms(std::chrono::steady_clock::now() - t0),
                             restore ? "restore" : "cold start");
    if (i == 0 && restore) spdlog::debug("restore to the first response: {}", engine::format_phases(r.report.start.phases));
    else spdlog::info("invocation {}: {:.1f} ms", i + 1, ms(std::chrono::steady_clock::now() - t1));
    if (r.status != engine::InvokeResult::Status::kSuccess) {
      std::fprintf(stderr, "thaw: the invocation failed: %s\n", r.error_type.c_str());
      rc = 1;
    }
  }
  if (auto st = sandbox->memory_stats())
    spdlog::info("lazy memory: {} faults, {} chunks on demand, {} prefetched, {:.1f} MiB read", st->faults,
                 st->chunks_on_demand, st->chunks_prefetched, double(st->bytes_read) / (1 << 20));
  sandbox->shutdown();
  return rc;
}

}  // namespace

Command add_invoke_command(CLI::App& app) {
  auto a = std::make_shared<InvokeArgs>();
  auto* sub = app.add_subcommand("invoke", "invoke a function through the engine (NAME[:QUALIFIER]), or start an image or "
                                            "snapshot directory and invoke it");
  sub->add_option("target", a->target,
                  "a function of the data directory (NAME, NAME:VERSION, NAME:ALIAS or an ARN), or an image "
                  "directory (thaw image build) or snapshot directory (thaw snapshot)")
      ->required();
  sub->add_flag("--json", a->json, "through the engine: one JSON line per invocation (payload, version, start kind, durations)");
  sub->add_option("--count", a->count, "invocations to run in the sandbox (the first one cold or restored)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  sub->add_flag("--no-prefetch", a->no_prefetch, "restore: do not prefetch the recorded working set");
  sub->add_flag("--debug-skip-entropy", a->skip_entropy,
                "restore, debug only: send the guest no fresh entropy (clones then share their kernel's CRNG)");
  sub->add_option("--payload", a->payload, "event JSON, or @FILE")->capture_default_str();
  sub->add_option("--vcpus", a->vcpus, "vCPUs of the microVM")->capture_default_str()->check(CLI::Range(1, 32));
  sub->add_option("--boot-allowance", a->boot_allowance_s, "seconds allowed for the guest to boot, on top of INIT")
      ->capture_default_str();
  Command c{sub, true, [a] { return run_invoke(*a); }};
  c.uses_data_dir = true;
  return c;
}

}  // namespace thaw::cli
