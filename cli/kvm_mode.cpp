#include "cli/kvm_mode.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "base/error.h"
#include "cli/commands.h"
#include "engine/vmm/kvm.h"

namespace thaw::cli {
namespace {
bool have_dev_kvm() { return ::access("/dev/kvm", R_OK | W_OK) == 0; }
// /dev/kvm that cannot boot thaw's guests (PVM): as good as none, but said why under --kvm host.
std::string dev_kvm_problem() { return vmm::kvm_backing_problem(vmm::kvm_backing()); }

// What in a command line may name a file: "--opt=VALUE", "@FILE" (invoke --payload) and every
// other word that is not an option, kept when it has a '/' or exists here. Passed to kvmhost as
// --see, which exports what the emulated host would not see (its /tmp is its own) and fails
// before it starts if that cannot be done. A word that only looks like a path costs nothing.
std::vector<std::string> path_arguments(const std::vector<std::string>& words) {
  std::vector<std::string> paths;
  for (std::string_view w : words) {
    if (w.starts_with("--")) {
      auto eq = w.find('=');
      if (eq == std::string_view::npos) continue;
      w.remove_prefix(eq + 1);
    } else if (w.starts_with("-")) {
      continue;
    }
    if (w.starts_with("@")) w.remove_prefix(1);
    if (w.empty()) continue;
    std::error_code ec;
    if (w.find('/') != std::string_view::npos || std::filesystem::exists(std::filesystem::symlink_status(w, ec)))
      paths.emplace_back(w);
  }
  return paths;
}
}  // namespace

const char* kvmhost_tool() {
  const char* env = std::getenv("THAW_KVMHOST");
  if (env && *env) return env;
  static const std::string tool = installed_or_built(THAW_INSTALL_LIBEXECDIR "/thaw/kvmhost/kvmhost", THAW_KVMHOST_TOOL);
  return tool.c_str();
}

KvmPlace resolve_kvm_mode(std::string_view mode) {
  const std::string problem = ::access("/dev/kvm", F_OK) == 0 ? dev_kvm_problem() : std::string();
  if (mode == "emulated") return have_dev_kvm() && problem.empty() ? KvmPlace::kHost : KvmPlace::kEmulated;
  if (!problem.empty()) throw Error(mode == "host" ? "--kvm host: " + problem : problem);
  if (have_dev_kvm()) return KvmPlace::kHost;
  if (::access("/dev/kvm", F_OK) == 0)
    throw Error("/dev/kvm exists but is not readable and writable by this user (add yourself to group kvm)");
  if (mode == "host") throw Error("--kvm host: this machine has no /dev/kvm");
  throw Error(
      "this machine has no /dev/kvm (no hardware virtualisation, or the kvm module is not loaded). "
      "Run with --kvm emulated to use the emulated KVM host (QEMU software CPU with nested SVM; slow but real)");
}

int rerun_in_emulated_host(int argc, char** argv, const std::vector<std::string>& writable,
                           const std::vector<std::string>& leading) {
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n < 0) throw_errno("readlink", "/proc/self/exe");
  exe[n] = 0;
  std::vector<std::string> words(leading);  // this command line without --kvm
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--kvm") {
      ++i;
      continue;
    }
    if (a.rfind("--kvm=", 0) == 0) continue;
    words.push_back(a);
  }
  // thaw itself too: its build directory holds what some commands default to.
  std::vector<std::string> args{kvmhost_tool(), "--see", exe};
  for (const auto& dir : writable) {
    std::filesystem::create_directories(dir);
    args.insert(args.end(), {"--rw", dir});
  }
  // --rw replaces the default export of the current directory: keep it.
  if (!writable.empty()) args.insert(args.end(), {"--rw", std::filesystem::current_path().string()});
  for (auto& p : path_arguments(words)) {
    args.emplace_back("--see");
    args.push_back(std::move(p));
  }
  args.emplace_back("--");
  args.emplace_back(exe);
  args.emplace_back("--kvm=host");
  args.insert(args.end(), words.begin(), words.end());
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", "emulated KVM host");
  if (pid == 0) {
    ::execv(cargs[0], cargs.data());
    std::fprintf(stderr, "thaw: cannot run the emulated KVM host tool %s: %s\n", cargs[0], std::strerror(errno));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw_errno("waitpid", "emulated KVM host");
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

}  // namespace thaw::cli
