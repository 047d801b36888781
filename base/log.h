#pragma once
// Logging set-up shared by the CLI, the benchmarks and the tests. thaw logs through spdlog's
// default logger to stderr, so stdout stays free for the command's own output.
#include <spdlog/spdlog.h>

#include <string_view>

namespace thaw {

// Sets the level from "trace|debug|info|warn|error|critical|off"; throws thaw::Error otherwise.
void set_log_level(std::string_view level);
void init_logging(std::string_view level = "info");

}  // namespace thaw
