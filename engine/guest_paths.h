#pragma once
// Where the engine finds what goes into guests (the agent, the bundled runtimes): what
// EngineOptions says, else the installed copy (PREFIX/libexec/thaw, PREFIX/share/thaw, found
// relative to the running executable and then at the configured install prefix), else the
// build tree the engine was built in.
#include <string>

namespace thaw::engine {

struct GuestPaths {
  std::string agent, runtimes_dir;
};

// Throws EngineError(kInvalidParameter) naming what is missing and where it was looked for.
GuestPaths find_guest_paths(const std::string& agent_option, const std::string& runtimes_option);

}  // namespace thaw::engine
