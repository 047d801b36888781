#include "cli/option_values.h"

#include "base/error.h"

namespace thaw::cli {

std::map<std::string, std::string> environment_from(const std::vector<std::string>& key_values) {
  std::map<std::string, std::string> env;
  for (const auto& kv : key_values) {
    auto eq = kv.find('=');
    if (eq == 0 || eq == std::string::npos) throw Error("--env takes KEY=VALUE, not '" + kv + "'");
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

}  // namespace thaw::cli
