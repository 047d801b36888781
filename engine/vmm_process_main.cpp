// thaw-vmm: one sandbox's microVM in a process of its own, spawned by the engine
// (engine/sandbox_process.h) and driven over the socketpair it inherits as fd 3 (and its
// sandbox's TAP as fd 4, when the sandbox has a network card, its shared image as 5 and 6):
//   thaw-vmm [--log-level LEVEL] [--spare]
// A spare, started before its sandbox was known (engine/vmm_spares.h), has only fd 3: its first
// request brings the others (SCM_RIGHTS) and lists the numbers they take (passed_fds); it says
// kReady once it serves, so that the engine hands out only a process that has finished starting,
// and it makes its sandbox's VM before that (engine/vmm/vm_shell.h).
// It holds nothing of the engine but what one sandbox needs (its image or snapshot directory,
// the chunk store it reads), opens everything it uses while it starts the sandbox, and ends
// when the engine says so, when its socket closes, or when the engine dies (PR_SET_PDEATHSIG,
// armed by a fork on the engine's spawner thread, engine/fork_thread.h), so a crash or a hang
// here takes down this sandbox only. It runs in a cgroup of its own from its first instruction
// (engine/vmm_cgroup.h: the child joins it before exec).
#include <fcntl.h>
#include <sys/prctl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/fd_passing.h"
#include "base/unique_fd.h"
#include "base/log.h"
#include "engine/sandbox.h"
#include "engine/vmm/vm_shell.h"
#include "engine/vmm_protocol.h"

namespace thaw::engine {
namespace {
namespace vp = vmm_protocol;

constexpr int kControlFd = vp::kSocketFd;

// The control socket's sending side, shared by the request loop and the sandbox's threads.
class ControlLink {
 public:
  void send(const channel::Message& m) {
    std::string wire = channel::encode(m);
    std::lock_guard lock(mu_);
    size_t done = 0;
    while (done < wire.size()) {
      ssize_t n = ::write(kControlFd, wire.data() + done, wire.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ::_exit(3);  // the engine is gone: nothing left to serve
      done += size_t(n);
    }
  }

 private:
  std::mutex mu_;
};

class VmmProcess {
 public:
  // Handles one request; false once the process should end. `fds`: the descriptors received
  // so far and not yet claimed.
  bool handle(const channel::Message& m, std::vector<UniqueFd>& fds) {
    const int64_t received_ns = std::chrono::steady_clock::now().time_since_epoch().count();
    try {
      if (m.meta.contains("passed_fds")) install_passed_fds(m.meta.at("passed_fds"), fds);
      switch (vp::op_of(m)) {
        case vp::Op::kColdStart:
          sandbox_ = Sandbox::cold_start(m.meta.at("image_dir").get<std::string>(), options(m.meta.at("options")));
          link_.send(vp::message(vp::Op::kStarted, {{"received_ns", received_ns}}));
          return true;
        case vp::Op::kRestore:
          sandbox_ = Sandbox::restore(m.meta.at("snapshot_dir").get<std::string>(), options(m.meta.at("options")));
          link_.send(vp::message(vp::Op::kStarted, {{"received_ns", received_ns}}));
          return true;
        case vp::Op::kInvoke: {
          auto r = started().invoke(vp::decode_request(m.meta, m.data));
          link_.send(vp::message(vp::Op::kInvokeResult, vp::encode_result(r), std::move(r.body)));
          sandbox_->save_written_pages();  // after the answer: it scans the guest's memory
          return true;
        }
        case vp::Op::kCheckpoint: {
          auto info = started().checkpoint(m.meta.at("snapshot_dir").get<std::string>(),
                                           m.meta.at("image_dir").get<std::string>(),
                                           m.meta.at("chunk_store").get<std::string>());
          link_.send(vp::message(vp::Op::kCheckpointDone, vp::encode_snapshot_info(info)));
          return true;
        }
        case vp::Op::kShutdown:
          if (sandbox_) sandbox_->shutdown();
          link_.send(vp::message(vp::Op::kShutdownDone));
          return false;
        default:
          throw channel::ProtocolError("unexpected message type " + std::to_string(unsigned(m.type)));
      }
    } catch (const SandboxError& e) {
      link_.send(vp::message(vp::Op::kFailed,
                             {{"kind", "sandbox"}, {"error_type", e.error_type()}, {"message", e.what()}}, e.body()));
    } catch (const std::exception& e) {
      link_.send(vp::message(vp::Op::kFailed, {{"kind", "error"}, {"error_type", ""}, {"message", e.what()}}));
    }
    return true;
  }

  // A spare's start: it makes the VM its sandbox will run in (its kernel objects and vCPU 0)
  // while it waits, then says it is ready. Without one (no usable /dev/kvm) it still serves.
  // Its first request puts descriptors at kTapFd..kImageIndexFd (passed_fds), so it holds those
  // numbers with /dev/null first: the VM's descriptors must not be opened there, to be
  // overwritten then.
  void ready_as_spare() {
    UniqueFd opened(::open("/dev/null", O_RDWR | O_CLOEXEC));
    // Moved above the numbers it fills (it may have been opened at one), so that closing it
    // leaves them all held.
    UniqueFd null(opened ? ::fcntl(opened.get(), F_DUPFD_CLOEXEC, vp::kImageIndexFd + 1) : -1);
    opened.reset();
    for (int fd : {vp::kTapFd, vp::kImageDataFd, vp::kImageIndexFd})
      if (!null || ::dup2(null.get(), fd) < 0) throw_errno("open or dup2", "/dev/null to hold a passed fd's number");
    try {
      shell_ = std::make_shared<vmm::VmShell>(vmm::VmShell::create());
    } catch (const std::exception& e) {
      spdlog::debug("thaw-vmm: no VM made ahead: {}", e.what());
    }
    link_.send(vp::message(vp::Op::kReady, {{"vm_made_ahead", shell_ != nullptr}}));
  }

 private:
  // Puts the descriptors that came with the request at the numbers it lists.
  static void install_passed_fds(const nlohmann::json& targets, std::vector<UniqueFd>& fds) {
    if (!targets.is_array() || targets.size() > fds.size() || targets.size() > kMaxPlacedFds)
      throw channel::ProtocolError("passed_fds lists " + std::to_string(targets.size()) + " descriptors, " +
                                   std::to_string(fds.size()) + " came");
    std::vector<int> from, to;
    for (size_t i = 0; i < targets.size(); ++i) {
      int target = targets[i].is_number_integer() ? targets[i].get<int>() : -1;
      if (target != vp::kTapFd && target != vp::kImageDataFd && target != vp::kImageIndexFd)
        throw channel::ProtocolError("passed_fds: " + targets[i].dump() + " is not a descriptor this process takes");
      from.push_back(fds[i].get());
      to.push_back(target);
    }
    const auto end = fds.begin() + static_cast<std::ptrdiff_t>(targets.size());
    std::vector<UniqueFd> received(std::make_move_iterator(fds.begin()), std::make_move_iterator(end));
    fds.erase(fds.begin(), end);
    if (!place_fds(from, to)) throw_errno("fcntl or dup2", "passed descriptors");
    // A received descriptor whose number is a target now holds what was placed there.
    for (auto& r : received)
      if (std::find(to.begin(), to.end(), r.get()) != to.end()) (void)r.release();
  }

  SandboxOptions options(const nlohmann::json& j) {
    auto o = vp::decode_options(j);
    o.vm_shell = std::exchange(shell_, nullptr);
    o.log = [this](std::string_view line) { link_.send(vp::message(vp::Op::kLog, {}, std::string(line))); };
    // The guest's console goes only to a debug log: not forwarded unless someone reads it.
    if (spdlog::should_log(spdlog::level::debug))
      o.console = [this](std::string_view line) { link_.send(vp::message(vp::Op::kConsole, {}, std::string(line))); };
    return o;
  }
  Sandbox& started() {
    if (!sandbox_) throw Error("thaw-vmm: no sandbox started yet");
    return *sandbox_;
  }

  ControlLink link_;
  std::shared_ptr<vmm::VmShell> shell_;  // a spare's, until its sandbox takes it
  std::unique_ptr<Sandbox> sandbox_;
};

int serve(bool spare) {
  VmmProcess vmm;
  if (spare) vmm.ready_as_spare();
  auto decoder = vp::decoder();
  char buf[1 << 16];
  std::vector<UniqueFd> fds;
  for (;;) {
    ssize_t n = recv_with_fds(kControlFd, buf, fds);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;  // the engine closed its end
    decoder.feed(std::string_view(buf, size_t(n)));
    while (auto m = decoder.next())
      if (!vmm.handle(*m, fds)) return 0;
  }
}

}  // namespace
}  // namespace thaw::engine

int main(int argc, char** argv) {
  std::string level = "warn";
  bool spare = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) level = argv[++i];
    if (std::strcmp(argv[i], "--spare") == 0) spare = true;
  }
  // The engine's death ends this process too (set again here: the engine sets it in the child
  // before exec, and exec keeps it for a binary that gains no privileges).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  try {
    thaw::init_logging(level);
    return thaw::engine::serve(spare);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "thaw-vmm: %s\n", e.what());
    return 1;
  }
}
