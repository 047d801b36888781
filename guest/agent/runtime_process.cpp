#include "guest/agent/runtime_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "base/error.h"

namespace thaw::agent {

RuntimeProcess::RuntimeProcess(const std::string& path, const std::vector<std::string>& env, const std::string& cwd) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw_errno("pipe2", "runtime stdout");
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw_errno("pipe2", "runtime stderr");
  }
  out_.reset(out[0]);
  err_.reset(err[0]);
  std::vector<std::string> envs = env;
  std::vector<char*> cenv;
  for (auto& e : envs) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  std::string p = path;
  char* argv[] = {p.data(), nullptr};
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(out[1]);
    ::close(err[1]);
    throw_error_number(e, "fork", path);
  }
  if (pid == 0) {
    ::setsid();
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::chdir(cwd.c_str()) != 0) ::chdir("/");
    ::execve(argv[0], argv, cenv.data());
    ::dprintf(2, "thaw-agent: cannot execute %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
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
  for (const char* p : {"/var/task/bootstrap", "/opt/bootstrap", "/var/runtime/bootstrap"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

}  // namespace thaw::agent
