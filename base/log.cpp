#include "base/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <string>

#include "base/error.h"

namespace thaw {

void set_log_level(std::string_view level) {
  auto l = spdlog::level::from_str(std::string(level));
  if (l == spdlog::level::off && level != "off")
    throw Error("unknown log level '" + std::string(level) + "' (use trace, debug, info, warn, error, critical or off)");
  spdlog::set_level(l);
}

void init_logging(std::string_view level) {
  auto logger = spdlog::stderr_color_mt("thaw");
  logger->set_pattern("%^[%H:%M:%S.%e %l]%$ %v");
  spdlog::set_default_logger(logger);
  set_log_level(level);
}

}  // namespace thaw
