#include "cli/global_options.h"

#include <cstdio>
#include <filesystem>

namespace thaw::cli {

GlobalOptions& global_options() {
  static GlobalOptions o;
  return o;
}

std::string resolved_data_dir() {
  if (!global_options().data_dir.empty()) return std::filesystem::absolute(global_options().data_dir).string();
  return EngineOptions::default_data_dir();
}

EngineOptions cli_engine_options(unsigned builders) {
  EngineOptions o;
  o.data_dir = resolved_data_dir();
  o.build_workers = builders;
  // Queued Event invocations are delivered by the engine that serves (thaw serve sets workers),
  // not by a command that only looks at or changes the data directory.
  o.async.workers = 0;
  // A function's own log lines and the platform's START/END/REPORT go to stderr, as Lambda
  // writes them to the log stream; responses go to stdout.
  o.on_log = [](const LogEvent& e) { std::fprintf(stderr, "%s\n", e.line.c_str()); };
  return o;
}

}  // namespace thaw::cli
