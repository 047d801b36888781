#include "guest/agent/runtime_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "base/error.h"
#include "base/fd_passing.h"

namespace thaw::agent {

namespace {

std::pair<UniqueFd, UniqueFd> make_pipe(const char* what) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2", what);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace

RuntimeProcess::RuntimeProcess(const std::string& path, const std::vector<std::string>& env, const std::string& cwd) {
  auto [out_read, out_write] = make_pipe("runtime stdout");
  auto [err_read, err_write] = make_pipe("runtime stderr");
  auto [telemetry_read, telemetry_write] = make_pipe("runtime telemetry log");
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  std::vector<std::string> envs = env;
  envs.push_back(std::string(kTelemetryFdVariable) + "=" + std::to_string(kTelemetryFd));
  std::vector<char*> cenv;
  for (auto& e : envs) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  std::string p = path;
  char* argv[] = {p.data(), nullptr};
  const int fds[] = {devnull.get(), out_write.get(), err_write.get(), telemetry_write.get()};
  const int targets[] = {0, 1, 2, kTelemetryFd};
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", path);
  if (pid == 0) {
    ::setsid();
    if (!place_fds(fds, targets)) ::_exit(126);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::chdir(cwd.c_str()) != 0) ::chdir("/");
    ::execve(argv[0], argv, cenv.data());
    ::dprintf(2, "thaw-agent: cannot execute %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  out_ = std::move(out_read);
  err_ = std::move(err_read);
  telemetry_ = std::move(telemetry_read);
  pid_ = pid;
}

RuntimeProcess::~RuntimeProcess() {
  if (pid_ > 0) ::kill(-pid_, SIGKILL);
}

std::string RuntimeProcess::describe_exit() const {
  if (WIFEXITED(status_)) return "exit status " + std::to_string(WEXITSTATUS(status_));
  if (WIFSIGNALED(status_))
    return "signal " + std::to_string(WTERMSIG(status_)) + " (" + ::strsignal(WTERMSIG(status_)) + ")";
  return "unknown exit";
}

void RuntimeProcess::signal_group(int sig) const {
  if (pid_ > 0) ::kill(-pid_, sig);
}

void RuntimeProcess::terminate(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      mark_exited(st);
      ::kill(-r, SIGKILL);  // stragglers of its group
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(-pid_, SIGKILL);
  int st = 0;
  if (::waitpid(pid_, &st, 0) == pid_) mark_exited(st);
}

std::string find_bootstrap() {
  for (const char* p : {"/var/runtime/bootstrap", "/var/task/bootstrap", "/opt/bootstrap"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

}  // namespace thaw::agent
