#include "engine/sandbox_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "base/error.h"
#include "base/fd_passing.h"
#include "engine/sandbox_internal.h"
#include "engine/vmm_protocol.h"

namespace thaw::engine {
namespace vp = vmm_protocol;
using std::chrono::milliseconds;

namespace {

// On top of the budgets the VMM process enforces itself: a slow host must not be taken for a
// hung process.
constexpr milliseconds kGrace{30'000};

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = ::sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : std::string());
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "ended";
}

}  // namespace

SandboxProcess::SandboxProcess(SandboxOptions options) : options_(std::move(options)) {}

std::unique_ptr<SandboxProcess> SandboxProcess::cold_start(VmmLaunch launch, const std::string& image_dir,
                                                           SandboxOptions options) {
  std::unique_ptr<SandboxProcess> p(new SandboxProcess(std::move(options)));
  p->spawn(std::move(launch));
  auto init = p->options_.init_timeout.count() > 0 ? p->options_.init_timeout : milliseconds(900'000);
  auto budget = p->options_.boot_allowance + init;
  p->start(vp::message(vp::Op::kColdStart, {{"options", vp::encode_options(p->options_)}, {"image_dir", image_dir}}),
           budget);
  return p;
}

std::unique_ptr<SandboxProcess> SandboxProcess::restore(VmmLaunch launch, const std::string& snapshot_dir,
                                                        SandboxOptions options) {
  std::unique_ptr<SandboxProcess> p(new SandboxProcess(std::move(options)));
  p->spawn(std::move(launch));
  p->start(vp::message(vp::Op::kRestore,
                       {{"options", vp::encode_options(p->options_)}, {"snapshot_dir", snapshot_dir}}),
           p->options_.restore_budget);
  return p;
}

void SandboxProcess::spawn(VmmLaunch launch) {
  cgroup_ = std::move(launch.cgroup);
  network_ = std::move(launch.network);
  if (bool(network_) != bool(options_.network))
    throw Error(network_ ? "a sandbox network was given without SandboxOptions::network"
                         : "SandboxOptions::network was set but the sandbox was given no network");
  if (network_) options_.network->tap_fd = network_->tap_fd();
  if (launch.shared_image) {
    shared_image_ = std::move(launch.shared_image);
    options_.shared_image = shared_image_->fds();
  }
  const std::array<int, 3> fds = {network_ ? network_->tap_fd() : -1, shared_image_ ? shared_image_->data_fd() : -1,
                                  shared_image_ ? shared_image_->index_fd() : -1};
  spawned_at_ = std::chrono::steady_clock::now();  // the vmm_process phase: this start's part only
  std::optional<VmmChild> child;
  if (launch.spares) child = launch.spares->take();
  if (child && adopt(*child)) {
    static_assert(vp::kImageDataFd == vp::kTapFd + 1 && vp::kImageIndexFd == vp::kTapFd + 2);
    for (int i = 0; i < 3; ++i)
      if (fds[i] >= 0) {
        passed_fds_.push_back(fds[i]);
        passed_targets_.push_back(vp::kTapFd + i);
      }
  } else {
    if (child) kill_vmm_child(*child);
    child = spawn_vmm_child(launch.executable, cgroup_ ? cgroup_->procs_fd() : -1, fds);
  }
  pid_ = child->pid;
  pidfd_ = std::move(child->pidfd);
  control_ = std::move(child->control);
  reader_ = std::thread([this] { read_loop(); });
}

bool SandboxProcess::adopt(VmmChild& spare) {
  if (!cgroup_) return true;
  std::string pid = std::to_string(spare.pid);
  if (::write(cgroup_->procs_fd(), pid.data(), pid.size()) == static_cast<ssize_t>(pid.size())) return true;
  spdlog::warn("cannot move spare VMM process {} into {}: {}; starting a new one", spare.pid, cgroup_->path(),
               std::strerror(errno));
  return false;
}

void SandboxProcess::read_loop() {
  auto decoder = vp::decoder();
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(control_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    try {
      decoder.feed(std::string_view(buf, size_t(n)));
      while (auto m = decoder.next()) {
        switch (vp::op_of(*m)) {
          case vp::Op::kLog:
            if (options_.log) options_.log(m->data);
            break;
          case vp::Op::kConsole:
            if (options_.console) options_.console(m->data);
            break;
          default: {
            std::lock_guard lock(mu_);
            answers_.push_back(std::move(*m));
            cv_.notify_all();
          }
        }
      }
    } catch (const channel::ProtocolError& e) {
      spdlog::warn("VMM process {} broke its protocol: {}", pid_, e.what());
      break;
    }
  }
  std::lock_guard lock(mu_);
  ended_ = true;
  alive_ = false;
  cv_.notify_all();
}

std::optional<channel::Message> SandboxProcess::call(const channel::Message& request, milliseconds deadline,
                                                    std::span<const int> fds) {
  {
    std::lock_guard lock(mu_);
    if (ended_) return std::nullopt;
  }
  std::string wire = channel::encode(request);
  size_t done = 0;
  while (done < wire.size()) {
    const std::string_view rest = std::string_view(wire).substr(done);
    ssize_t n = done == 0 && !fds.empty() ? send_with_fds(control_.get(), rest, fds)
                                          : ::send(control_.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;  // the process is gone; the reader sees it too
    done += size_t(n);
  }
  std::unique_lock lock(mu_);
  bool got = cv_.wait_for(lock, deadline, [&] { return !answers_.empty() || ended_; });
  if (!answers_.empty()) {
    auto m = std::move(answers_.front());
    answers_.pop_front();
    return m;
  }
  lock.unlock();
  if (!got) {
    spdlog::warn("VMM process {} did not answer within {} ms: killing it", pid_, deadline.count());
    kill_process();
  }
  return std::nullopt;
}

void SandboxProcess::start(channel::Message request, milliseconds deadline) {
  if (!passed_targets_.empty()) request.meta["passed_fds"] = passed_targets_;
  auto m = call(request, deadline + kGrace, passed_fds_);
  if (m && vp::op_of(*m) == vp::Op::kStarted) {
    std::chrono::steady_clock::time_point received;
    try {
      received = vp::started_received_at(*m);
    } catch (const channel::ProtocolError& e) {
      kill_process();
      throw SandboxError("Sandbox.Error", "the sandbox's VMM process broke its protocol: " + std::string(e.what()));
    }
    vmm_process_ms_ = std::max(0.0, std::chrono::duration<double, std::milli>(received - spawned_at_).count());
    std::lock_guard lock(mu_);
    alive_ = true;
    return;
  }
  if (m && vp::op_of(*m) == vp::Op::kFailed) {
    auto kind = detail::str(m->meta, "kind");
    auto message = detail::str(m->meta, "message");
    kill_process();
    if (kind == "sandbox") throw SandboxError(detail::str(m->meta, "error_type"), message, m->data);
    throw Error(message);
  }
  std::string why = "the sandbox's VMM process " + end_reason() + " while its sandbox started";
  kill_process();
  throw SandboxError("Sandbox.Error", why);
}

InvokeResult SandboxProcess::invoke(const InvokeRequest& request, milliseconds timeout) {
  auto m = call(vp::message(vp::Op::kInvoke, vp::encode_request(request), request.payload), timeout + kGrace);
  if (m && vp::op_of(*m) == vp::Op::kInvokeResult) {
    try {
      auto r = vp::decode_result(m->meta, std::move(m->data));
      auto& phases = r.report.start.phases;
      if (r.report.start.kind == StartInfo::Kind::kRestored) phases.insert(phases.begin(), {"vmm_process", vmm_process_ms_});
      if (r.status != InvokeResult::Status::kSuccess && r.status != InvokeResult::Status::kFunctionError) {
        std::lock_guard lock(mu_);
        alive_ = false;  // the sandbox inside discarded itself
      }
      return r;
    } catch (const channel::ProtocolError& e) {
      spdlog::warn("VMM process {}: {}", pid_, e.what());
    }
  }
  InvokeResult r;
  r.status = InvokeResult::Status::kSandboxError;
  r.error_type = "Sandbox.Error";
  std::string why = "the sandbox's VMM process " + end_reason() + " during the invocation";
  r.body = detail::error_json(r.error_type, "RequestId: " + request.request_id + " Error: " + why);
  r.report.request_id = request.request_id;
  r.report.status = "error";
  kill_process();
  return r;
}

SnapshotInfo SandboxProcess::checkpoint(const std::string& snapshot_dir, const std::string& image_dir,
                                        const std::string& chunk_store) {
  auto budget = options_.boot_allowance + options_.checkpoint_min_uptime + milliseconds(600'000);
  auto m = call(vp::message(vp::Op::kCheckpoint,
                            {{"snapshot_dir", snapshot_dir}, {"image_dir", image_dir}, {"chunk_store", chunk_store}}),
                budget);
  {
    std::lock_guard lock(mu_);
    alive_ = false;  // a checkpointed sandbox is discarded, as Sandbox::checkpoint does
  }
  if (m && vp::op_of(*m) == vp::Op::kCheckpointDone) {
    auto info = vp::decode_snapshot_info(m->meta);
    shutdown();
    return info;
  }
  if (m && vp::op_of(*m) == vp::Op::kFailed) {
    kill_process();
    if (detail::str(m->meta, "kind") == "sandbox")
      throw SandboxError(detail::str(m->meta, "error_type"), detail::str(m->meta, "message"), m->data);
    throw Error(detail::str(m->meta, "message"));
  }
  std::string why = "the sandbox's VMM process " + end_reason() + " while it took the snapshot";
  kill_process();
  throw SandboxError("Sandbox.Error", why);
}

void SandboxProcess::kill() {
  if (pidfd_) ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
}

bool SandboxProcess::alive() const {
  std::lock_guard lock(mu_);
  return alive_ && !ended_;
}

void SandboxProcess::shutdown() {
  if (pid_ < 0) return;
  bool ended;
  {
    std::lock_guard lock(mu_);
    ended = ended_;
  }
  // SHUTDOWN inside takes the runtime's 2 s after SIGTERM and the power-off.
  if (!ended) call(vp::message(vp::Op::kShutdown), milliseconds(15'000));
  kill_process();
}

void SandboxProcess::kill_process() {
  if (pid_ < 0) return;
  if (!reaped_) {
    int status = 0;
    pid_t got = ::waitpid(pid_, &status, WNOHANG);
    if (got == 0) {
      ::kill(pid_, SIGKILL);
      while ((got = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
      }
    }
    if (got == pid_) wait_status_ = status;
    reaped_ = true;
  }
  ::shutdown(control_.get(), SHUT_RDWR);  // the reader sees EOF
  if (reader_.joinable() && reader_.get_id() != std::this_thread::get_id()) reader_.join();
  std::lock_guard lock(mu_);
  alive_ = false;
  ended_ = true;
}

std::string SandboxProcess::end_reason() {
  if (pid_ < 0) return "never started";
  if (!reaped_) {
    // It closed its socket: it is ending, or has; wait a moment for its status (the pidfd
    // becomes readable when it has ended).
    if (pidfd_) {
      pollfd p{pidfd_.get(), POLLIN, 0};
      while (::poll(&p, 1, 1000) < 0 && errno == EINTR) {
      }
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      wait_status_ = status;
      reaped_ = true;
    }
  }
  std::string how = reaped_ ? describe_status(wait_status_) : "stopped answering";
  if (cgroup_ && cgroup_->oom_kills() > 0)
    how += ", out of memory (its cgroup's memory.max: guest memory + " +
           std::to_string(kVmmMemoryOverhead >> 20) + " MiB)";
  return "(pid " + std::to_string(pid_) + ") " + how;
}

SandboxProcess::~SandboxProcess() {
  try {
    shutdown();
  } catch (...) {
  }
}

}  // namespace thaw::engine
