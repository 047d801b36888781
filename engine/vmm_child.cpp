#include "engine/vmm_child.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "base/error.h"
#include "base/fd_passing.h"
#include "engine/fork_thread.h"
#include "engine/vmm_protocol.h"

namespace thaw::engine {
namespace vp = vmm_protocol;

namespace {

VmmChild spawn(const std::string& executable, int cgroup_procs_fd, std::array<int, 3> fds, bool spare) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw_errno("socketpair", "VMM process");
  UniqueFd mine(sv[0]), theirs(sv[1]);
  // Where each descriptor the VMM process starts with is now (-1: it has none there).
  const int inherited[] = {theirs.get(), fds[0], fds[1], fds[2]};
  const int targets[] = {vp::kSocketFd, vp::kTapFd, vp::kImageDataFd, vp::kImageIndexFd};
  static_assert(vp::kImageIndexFd > vp::kSocketFd && vp::kImageIndexFd > vp::kTapFd &&
                vp::kImageIndexFd > vp::kImageDataFd);
  auto level_name = spdlog::level::to_string_view(spdlog::get_level());
  std::string level(level_name.data(), level_name.size());
  const char* argv[] = {executable.c_str(), "--log-level", level.c_str(), spare ? "--spare" : nullptr, nullptr};
  pid_t parent = ::getpid();
  VmmChild child;
  child.pid = fork_on_spawner_thread([&] {
    // Only async-signal-safe calls until exec: this process has the engine's threads' memory.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (cgroup_procs_fd >= 0 && ::write(cgroup_procs_fd, "0", 1) != 1) {  // before it runs any of its own code
      const char msg[] = "thaw: cannot move the VMM process into its cgroup\n";
      (void)!::write(2, msg, sizeof msg - 1);
      ::_exit(127);
    }
    if (!place_fds(inherited, targets)) ::_exit(127);
    // Nothing of the engine's but stdio and those.
    ::close_range(vp::kImageIndexFd + 1, ~0U, 0);
    ::execv(argv[0], const_cast<char* const*>(argv));
    const char msg[] = "thaw: cannot exec the VMM process\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  });
  // A pidfd, so that a signal from another thread can never reach a recycled pid.
  child.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, child.pid, 0)));
  if (!child.pidfd) spdlog::warn("pidfd_open of VMM process {}: {}", child.pid, std::strerror(errno));
  child.control = std::move(mine);
  return child;
}

}  // namespace

VmmChild spawn_vmm_child(const std::string& executable, int cgroup_procs_fd, std::array<int, 3> fds) {
  return spawn(executable, cgroup_procs_fd, fds, false);
}

VmmChild spawn_ready_spare(const std::string& executable, std::chrono::milliseconds deadline, std::stop_token stop) {
  VmmChild child = spawn(executable, -1, {-1, -1, -1}, true);
  std::optional<channel::Message> m;
  try {
    // A stop reads as the child closing its end: the wait ends at once, not at the deadline.
    std::stop_callback on_stop(stop, [fd = child.control.get()] { ::shutdown(fd, SHUT_RDWR); });
    auto decoder = vp::decoder();
    m = vp::read_message(child.control.get(), decoder, deadline);
  } catch (const channel::ProtocolError& e) {
    kill_vmm_child(child);
    throw Error(std::string("a spare VMM process broke its protocol: ") + e.what());
  }
  if (m && vp::op_of(*m) == vp::Op::kReady) {
    auto made = m->meta.find("vm_made_ahead");
    child.vm_made_ahead = made != m->meta.end() && made->is_boolean() && made->get<bool>();
    return child;
  }
  kill_vmm_child(child);
  if (m)
    throw Error("a spare VMM process sent message " + std::to_string(static_cast<unsigned>(m->type)) +
                " before it was ready");
  if (stop.stop_requested()) throw Error("stopped while a spare VMM process was starting");
  throw Error("a spare VMM process ended or did not become ready within " + std::to_string(deadline.count()) + " ms");
}

void kill_vmm_child(VmmChild& child) {
  if (child.pid < 0) return;
  if (child.pidfd)
    ::syscall(SYS_pidfd_send_signal, child.pidfd.get(), SIGKILL, nullptr, 0);
  else
    ::kill(child.pid, SIGKILL);
  while (::waitpid(child.pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  child.pid = -1;
}

bool vmm_child_ended(VmmChild& child) {
  if (child.pid < 0) return true;
  if (::waitpid(child.pid, nullptr, WNOHANG) == 0) return false;
  child.pid = -1;
  return true;
}

}  // namespace thaw::engine
