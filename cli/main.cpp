// thaw: the command-line front of the engine.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/log.h"
#include "cli/commands.h"
#include "cli/global_options.h"
#include "cli/kvm_mode.h"

int main(int argc, char** argv) {
  CLI::App app{"thaw: fast-start engine for serverless functions (KVM microVM snapshots, lazy restore)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("thaw ") + THAW_VERSION);
  std::string log_level = "info";
  std::string kvm = "auto";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")->capture_default_str();
  app.add_option("--kvm", kvm,
                 "where KVM commands run: auto (/dev/kvm if present), host (/dev/kvm), emulated (inside the "
                 "emulated KVM host, for machines without hardware virtualisation)")
      ->check(CLI::IsMember({"auto", "host", "emulated"}))
      ->capture_default_str();
  app.add_option("--data-dir", thaw::cli::global_options().data_dir,
                 "the engine's data directory: functions, versions, aliases, code, images, snapshots "
                 "(default: $XDG_DATA_HOME/thaw, else ~/.local/share/thaw)");

  std::vector<thaw::cli::Command> commands;
  commands.push_back(thaw::cli::add_inspect_command(app));
  commands.push_back(thaw::cli::add_capture_command(app));
  commands.push_back(thaw::cli::add_kvmhost_command(app));
  commands.push_back(thaw::cli::add_boot_command(app));
  commands.push_back(thaw::cli::add_bench_boot_command(app));
  commands.push_back(thaw::cli::add_bench_coldstart_command(app));
  commands.push_back(thaw::cli::add_bench_peer_command(app));
  commands.push_back(thaw::cli::add_bench_pool_command(app));
  commands.push_back(thaw::cli::add_bench_api_command(app));
  commands.push_back(thaw::cli::add_bench_load_command(app));
  commands.push_back(thaw::cli::add_bench_net_command(app));
  commands.push_back(thaw::cli::add_image_command(app));
  commands.push_back(thaw::cli::add_invoke_command(app));
  commands.push_back(thaw::cli::add_serve_command(app));
  commands.push_back(thaw::cli::add_snapshot_command(app));
  commands.push_back(thaw::cli::add_logs_command(app));
  commands.push_back(thaw::cli::add_top_command(app));
  for (auto& c : thaw::cli::add_function_commands(app)) commands.push_back(std::move(c));
  for (auto& c : thaw::cli::add_queue_commands(app)) commands.push_back(std::move(c));
  for (auto& c : thaw::cli::add_layer_commands(app)) commands.push_back(std::move(c));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    thaw::init_logging(log_level);
    for (auto& c : commands) {
      if (!c.app->parsed()) continue;
      bool needs_kvm = c.needs_kvm_now ? c.needs_kvm_now() : c.needs_kvm;
      auto where = needs_kvm ? thaw::cli::resolve_kvm_mode(kvm) : thaw::cli::KvmPlace::kHost;
      if (c.prepare) c.prepare();
      if (where == thaw::cli::KvmPlace::kEmulated) {
        std::vector<std::string> writable, leading;
        if (c.uses_data_dir) {
          writable.push_back(thaw::cli::resolved_data_dir());
          if (thaw::cli::global_options().data_dir.empty()) leading.push_back("--data-dir=" + writable.back());
        }
        return thaw::cli::rerun_in_emulated_host(argc, argv, writable, leading);
      }
      return c.run();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "thaw: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
