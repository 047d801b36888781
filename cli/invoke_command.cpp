// thaw invoke IMAGE|SNAPSHOT [--payload JSON|@FILE]: a cold start of the function (boot, INIT)
// or a restore of its snapshot (thaw snapshot), then the invocations, then SHUTDOWN. Responses
// go to stdout; the function's logs and the START / END / REPORT lines go to stderr, as Lambda
// writes them to its log stream.
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
#include "engine/sandbox.h"

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

int run_invoke(const InvokeArgs& a) {
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
  auto* sub = app.add_subcommand("invoke", "start a function (cold, or restored from its snapshot) and invoke it");
  sub->add_option("target", a->target, "function image directory (thaw image build) or snapshot (thaw snapshot)")
      ->required();
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
  return {sub, true, [a] { return run_invoke(*a); }};
}

}  // namespace thaw::cli
