#include "guest/image/host_command.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/error.h"
#include "base/unique_fd.h"

extern char** environ;

namespace thaw::image {
namespace {

struct Pipe {
  UniqueFd read, write;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
    read.reset(fds[0]);
    write.reset(fds[1]);
  }
};

class SpawnActions {
 public:
  SpawnActions() {
    if (int rc = posix_spawn_file_actions_init(&a_)) throw_error_number(rc, "posix_spawn_file_actions_init");
  }
  ~SpawnActions() { posix_spawn_file_actions_destroy(&a_); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  void dup2(int from, int to) {
    if (int rc = posix_spawn_file_actions_adddup2(&a_, from, to)) throw_error_number(rc, "posix_spawn_file_actions_adddup2");
  }
  posix_spawn_file_actions_t* get() { return &a_; }

 private:
  posix_spawn_file_actions_t a_;
};

// Writing to a child that already exited raises SIGPIPE; keep it from killing the builder
// and swallow the pending signal, so the write just fails with EPIPE.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~SigpipeBlocked() {
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) && !sigismember(&old_, SIGPIPE)) {
      timespec zero{};
      sigtimedwait(&set, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

 private:
  sigset_t old_;
};

}  // namespace

CommandResult run_host_command(const std::vector<std::string>& argv, const std::string& input) {
  if (argv.empty()) throw Error("run_host_command: empty argv");
  Pipe in, out;
  SpawnActions actions;
  actions.dup2(in.read.get(), 0);
  actions.dup2(out.write.get(), 1);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  if (int rc = posix_spawn(&pid, argv[0].c_str(), actions.get(), nullptr, args.data(), environ))
    throw_error_number(rc, "posix_spawn", argv[0]);
  in.read.reset();
  out.write.reset();

  SigpipeBlocked no_sigpipe;
  // Feed stdin and drain stdout together, so neither side can block the other.
  CommandResult result;
  std::size_t fed = 0;
  if (input.empty()) in.write.reset();
  char buf[65536];
  while (out.read) {
    pollfd fds[2] = {{out.read.get(), POLLIN, 0}, {in.write ? in.write.get() : -1, POLLOUT, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll", argv[0]);
    }
    if (in.write && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = ::write(in.write.get(), input.data() + fed, input.size() - fed);
      if (n > 0) fed += std::size_t(n);
      if (n < 0 && errno != EINTR && errno != EAGAIN) fed = input.size();  // reader gone
      if (fed == input.size()) in.write.reset();
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(out.read.get(), buf, sizeof buf);
      if (n > 0) result.out.append(buf, std::size_t(n));
      if (n == 0 || (n < 0 && errno != EINTR)) out.read.reset();
    }
  }
  in.write.reset();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw_errno("waitpid", argv[0]);
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace thaw::image
