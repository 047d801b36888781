#pragma once
// The `thaw` command's global options, which main.cpp parses and the engine commands read.
#include <string>

#include "thaw/engine.h"

namespace thaw::cli {

struct GlobalOptions {
  std::string data_dir;  // --data-dir; empty: the engine's default ($XDG_DATA_HOME/thaw)
};

GlobalOptions& global_options();

// Engine options for a CLI command: the data directory, logs to stderr, and `builders`
// background workers (1 for commands that build and wait, 0 for those that only read); no
// event workers.
EngineOptions cli_engine_options(unsigned builders);

// The data directory the engine will use (for exporting it to the emulated KVM host).
std::string resolved_data_dir();

}  // namespace thaw::cli
