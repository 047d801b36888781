#pragma once
// Values of command-line options that several commands take.
#include <map>
#include <string>
#include <vector>

namespace thaw::cli {

// --env KEY=VALUE, repeated. Throws thaw::Error naming the option that is not KEY=VALUE.
std::map<std::string, std::string> environment_from(const std::vector<std::string>& key_values);

}  // namespace thaw::cli
