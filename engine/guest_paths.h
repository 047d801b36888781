#pragma once
// Where the engine finds what goes into guests (the agent, the bundled runtimes) and the VMM
// process's executable: what
// EngineOptions says; else, for an engine running from thaw's build tree, that tree's; else the
// installed copy (PREFIX/libexec/thaw/thaw-agent, PREFIX/share/thaw/runtimes), PREFIX found from
// the place of libthaw.so (or of the executable that links the engine), then the configured
// install prefix.
#include <string>

namespace thaw::engine {

struct GuestPaths {
  std::string agent, runtimes_dir;
};

// Throws EngineError(kInvalidParameter) naming what is missing and where it was looked for.
GuestPaths find_guest_paths(const std::string& agent_option, const std::string& runtimes_option);
// The VMM process's executable (PREFIX/libexec/thaw/thaw-vmm, or the build tree's), found the same way.
std::string find_vmm_executable(const std::string& option);

}  // namespace thaw::engine
