#include "base/child_process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/error.h"

extern char** environ;

namespace thaw {

ChildProcess::ChildProcess(const std::vector<std::string>& argv, std::string log_path, int stop_signal,
                           std::chrono::milliseconds grace)
    : log_path_(std::move(log_path)), stop_signal_(stop_signal), grace_(grace) {
  if (argv.empty()) throw Error("ChildProcess: no program");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    errno = rc;
    throw_errno("posix_spawn", argv[0]);
  }
}

ChildProcess::~ChildProcess() {
  if (!running()) return;
  ::kill(pid_, stop_signal_);
  for (auto deadline = std::chrono::steady_clock::now() + grace_; std::chrono::steady_clock::now() < deadline;) {
    if (!running()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

bool ChildProcess::running() const {
  if (pid_ < 0) return false;
  if (::waitpid(pid_, nullptr, WNOHANG) == 0) return true;
  pid_ = -1;
  return false;
}

void ChildProcess::wait_until_up(std::string_view what, std::chrono::milliseconds limit,
                                 const std::function<bool()>& ready) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!ready()) {
    if (!running()) throw Error(std::string(what) + " exited while starting:\n" + log_tail());
    if (std::chrono::steady_clock::now() > deadline) throw Error(std::string(what) + " did not come up:\n" + log_tail());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string ChildProcess::log_tail(size_t max_bytes) const {
  std::ifstream in(log_path_);
  std::stringstream all;
  all << in.rdbuf();
  std::string text = all.str();
  return text.size() > max_bytes ? text.substr(text.size() - max_bytes) : text;
}

}  // namespace thaw
