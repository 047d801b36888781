#pragma once
// The `thaw` command's subcommands. Each lives in its own file and registers itself here;
// main.cpp owns the global options and decides where a KVM command runs.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace thaw::cli {

// A registered subcommand: its parser, whether it needs /dev/kvm, and what it runs.
// run() returns the process exit status. prepare(), where set, runs first and on this machine,
// before a KVM command moves into the emulated KVM host (for work that is slow there); it runs
// again inside, so it must do nothing when there is nothing left to do.
struct Command {
  CLI::App* app = nullptr;
  bool needs_kvm = false;
  std::function<int()> run;
  std::function<void()> prepare = {};
  // Where set, decides after parsing whether this run needs KVM (instead of needs_kvm).
  std::function<bool()> needs_kvm_now = {};
  // Uses the engine's data directory: exported writable to the emulated KVM host.
  bool uses_data_dir = false;
};

// The directory of the running thaw: the build directory, which holds what some commands
// default to (the test initramfs, the test images).
inline std::filesystem::path exe_dir() { return std::filesystem::read_symlink("/proc/self/exe").parent_path(); }

// A file thaw installs at PREFIX/`relative` (PREFIX: two levels above the running thaw), when
// this thaw is an installed one; else `built`, its place in the source or build tree.
inline std::string installed_or_built(const std::string& relative, const std::string& built) {
  auto installed = exe_dir().parent_path() / relative;
  std::error_code ec;
  if (!exe_dir().string().starts_with(THAW_BUILD_DIR) && std::filesystem::exists(installed, ec)) return installed.string();
  return built;
}

// `thaw bench`, the parent of the benchmark subcommands: created by whichever asks first.
inline CLI::App* bench_group(CLI::App& app) {
  for (auto* s : app.get_subcommands([](CLI::App* a) { return a->get_name() == "bench"; })) return s;
  auto* bench = app.add_subcommand("bench", "benchmarks");
  bench->require_subcommand(1);
  return bench;
}

// One line per subcommand file. Each adds its subcommand (and its options) to `app`.
Command add_inspect_command(CLI::App& app);  // snapshot/: thaw inspect
Command add_capture_command(CLI::App& app);  // snapshot/: thaw capture --pid PID --out DIR
Command add_kvmhost_command(CLI::App& app);  // thaw kvmhost -- CMD: run anything in the emulated host
Command add_boot_command(CLI::App& app);        // engine/vmm/: thaw boot (needs KVM)
Command add_bench_boot_command(CLI::App& app);  // engine/vmm/: thaw bench boot, thaw vs QEMU (needs KVM)
Command add_bench_coldstart_command(CLI::App& app);  // engine/: thaw bench coldstart (needs KVM)
Command add_bench_peer_command(CLI::App& app);  // engine/vmm/: thaw bench peer, restore vs QEMU's (needs KVM)
Command add_bench_pool_command(CLI::App& app);  // engine/: thaw bench pool, Engine vs Sandbox (needs KVM)
Command add_bench_api_command(CLI::App& app);   // invoke-api/: thaw bench api, HTTP vs Engine (needs KVM)
Command add_bench_load_command(CLI::App& app);  // invoke-api/: thaw bench load, thaw serve under load (needs KVM)
Command add_bench_net_command(CLI::App& app);   // engine/net/: thaw bench net, a sandbox's network vs the host (needs KVM)
Command add_image_command(CLI::App& app);    // guest/image/: thaw image build
Command add_invoke_command(CLI::App& app);   // engine/: thaw invoke (cold start or restore, invocations; needs KVM)
Command add_serve_command(CLI::App& app);     // invoke-api/: thaw serve, the Lambda API over HTTP (needs KVM)
Command add_snapshot_command(CLI::App& app);  // engine/: thaw snapshot (SnapStart INIT + snapshot; needs KVM)
Command add_logs_command(CLI::App& app);      // engine/: thaw logs NAME, a function's log streams
Command add_top_command(CLI::App& app);       // invoke-api/: thaw top, a server's metrics live
// thaw function create|update-code|update-config|publish|list|get|delete|alias ...: the engine's control plane.
std::vector<Command> add_function_commands(CLI::App& app);
std::vector<Command> add_queue_commands(CLI::App& app);  // engine/: thaw queue list|receive, the local queues
std::vector<Command> add_layer_commands(CLI::App& app);  // engine/: thaw layer publish|list|versions|get|delete

}  // namespace thaw::cli
