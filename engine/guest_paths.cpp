#include "engine/guest_paths.h"

#include <dlfcn.h>

#include <filesystem>
#include <vector>

#include "thaw/error.h"

namespace thaw::engine {
namespace fs = std::filesystem;

namespace {

std::string first_existing(const std::string& option, const std::vector<fs::path>& candidates, const char* what) {
  if (!option.empty()) {
    if (!fs::exists(option)) throw EngineError(ErrorCode::kInvalidParameter, std::string(what) + " " + option + " does not exist");
    return option;
  }
  std::string tried;
  for (const auto& c : candidates) {
    if (c.empty()) continue;
    std::error_code ec;
    if (fs::exists(c, ec)) return fs::weakly_canonical(c, ec).string();
    tried += (tried.empty() ? "" : ", ") + c.string();
  }
  throw EngineError(ErrorCode::kInvalidParameter,
                    std::string("cannot find the ") + what + " (looked at " + tried + "); set it in EngineOptions");
}

// The file this code was loaded from: libthaw.so for embedders, the executable for the CLI
// (which links the engine statically).
fs::path engine_binary() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&find_guest_paths), &info) == 0 || !info.dli_fname) return {};
  std::error_code ec;
  auto p = fs::canonical(info.dli_fname, ec);
  return ec ? fs::path() : p;
}

// Code built in thaw's own build tree (the CLI, the tests) uses that tree's guest files, even
// when an older thaw is installed; an installed engine uses only installed ones.
bool in_build_tree(const fs::path& binary) {
  std::string build = THAW_BUILD_DIR;
  return !binary.empty() && binary.string().starts_with(build + "/");
}

std::vector<fs::path> candidates(const fs::path& installed, const fs::path& built) {
  auto binary = engine_binary();
  if (in_build_tree(binary)) return {built};
  // PREFIX/lib/libthaw.so or PREFIX/bin/thaw: the prefix is two levels up.
  fs::path prefix = binary.empty() ? fs::path() : binary.parent_path().parent_path();
  return {prefix.empty() ? fs::path() : prefix / installed, fs::path(THAW_INSTALL_PREFIX) / installed};
}

}  // namespace

std::string find_vmm_executable(const std::string& option) {
  return first_existing(option, candidates(fs::path(THAW_INSTALL_LIBEXECDIR) / "thaw/thaw-vmm", THAW_BUILD_VMM),
                        "VMM process executable (thaw-vmm)");
}

GuestPaths find_guest_paths(const std::string& agent_option, const std::string& runtimes_option) {
  GuestPaths p;
  p.agent = first_existing(agent_option,
                           candidates(fs::path(THAW_INSTALL_LIBEXECDIR) / "thaw/thaw-agent", THAW_BUILD_GUEST_AGENT),
                           "guest agent");
  p.runtimes_dir = first_existing(
      runtimes_option, candidates(fs::path(THAW_INSTALL_DATADIR) / "thaw/runtimes", THAW_BUILD_RUNTIMES_DIR),
      "guest runtimes directory");
  return p;
}

}  // namespace thaw::engine
