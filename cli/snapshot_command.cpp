// thaw snapshot IMAGE --out DIR: SnapStart's publish step. The function cold-starts with
// AWS_LAMBDA_INITIALIZATION_TYPE=snap-start, runs INIT and its before-snapshot hooks, and the
// paused microVM is written to DIR (machine state and compressed page store, manifest last).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "base/error.h"
#include "cli/commands.h"
#include "engine/sandbox.h"

namespace thaw::cli {
namespace {

struct SnapshotArgs {
  std::string image;
  std::string out;
  unsigned vcpus = 1;
  unsigned boot_allowance_s = 120;
};

int run_snapshot(const SnapshotArgs& a) {
  if (std::filesystem::exists(std::filesystem::path(a.out) / "manifest.json"))
    throw Error("--out " + a.out + " already holds a snapshot; remove it or choose another directory");
  engine::SandboxOptions o;
  o.vcpus = a.vcpus;
  o.boot_allowance = std::chrono::seconds(a.boot_allowance_s);
  o.initialization_type = "snap-start";
  o.log = [](std::string_view line) { std::fprintf(stderr, "%.*s\n", int(line.size()), line.data()); };
  o.console = [](std::string_view line) { spdlog::debug("guest: {}", line); };
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<engine::Sandbox> sandbox;
  try {
    sandbox = engine::Sandbox::cold_start(a.image, o);
  } catch (const engine::SandboxError& e) {
    std::fprintf(stderr, "thaw: INIT failed: %s (%s)\n%s\n", e.what(), e.error_type().c_str(), e.body().c_str());
    return 2;
  }
  auto info = sandbox->checkpoint(a.out, a.image);
  double total = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("snapshot %s: boot + INIT %.1f ms (INIT %.1f ms), pause %.1f ms, save %.1f ms; %llu pages, %llu zero, "
              "%.1f MiB stored\n",
              a.out.c_str(), total - info.pause_ms - info.save_ms, info.init_ms, info.pause_ms, info.save_ms,
              static_cast<unsigned long long>(info.pages.pages), static_cast<unsigned long long>(info.pages.zero_pages),
              double(info.pages.stored_bytes) / (1 << 20));
  return 0;
}

}  // namespace

Command add_snapshot_command(CLI::App& app) {
  auto a = std::make_shared<SnapshotArgs>();
  auto* sub = app.add_subcommand("snapshot", "run a function's INIT (SnapStart) and snapshot its microVM");
  sub->add_option("image", a->image, "function image directory (thaw image build)")->required();
  sub->add_option("--out", a->out, "snapshot directory to write")->required();
  sub->add_option("--vcpus", a->vcpus, "vCPUs of the microVM")->capture_default_str()->check(CLI::Range(1, 32));
  sub->add_option("--boot-allowance", a->boot_allowance_s, "seconds allowed for the guest to boot, on top of INIT")
      ->capture_default_str();
  return {sub, true, [a] { return run_snapshot(*a); }};
}

}  // namespace thaw::cli
