#include "engine/guest_paths.h"

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

fs::path running_executable() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe;
}

// A program built in thaw's own build tree (the CLI, the tests) uses that tree's guest files,
// even when an older thaw is installed.
bool runs_from_build_tree(const fs::path& exe) {
  std::string build = THAW_BUILD_DIR;
  return !exe.empty() && exe.string().starts_with(build + "/");
}

}  // namespace

GuestPaths find_guest_paths(const std::string& agent_option, const std::string& runtimes_option) {
  auto exe = running_executable();
  // PREFIX/bin/thaw or PREFIX/lib/thaw/thaw-vmm: the prefix is two levels up.
  fs::path prefix = exe.empty() ? fs::path() : exe.parent_path().parent_path();
  auto candidates = [&](const fs::path& installed, const fs::path& built) {
    std::vector<fs::path> c;
    if (runs_from_build_tree(exe)) c.push_back(built);
    if (!prefix.empty()) c.push_back(prefix / installed);
    c.push_back(fs::path(THAW_INSTALL_PREFIX) / installed);
    c.push_back(built);
    return c;
  };
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
