#pragma once
// A sandbox whose microVM runs in a VMM process of its own (thaw-vmm, engine/vmm_process_main.cpp),
// as Firecracker runs one process per microVM: the engine keeps this handle, the process keeps
// the VM, its memory and its loader. They talk over a socketpair (engine/vmm_protocol.h); the
// process's log and console lines arrive as they happen. If the process crashes, hangs or is
// killed, this sandbox ends with a clear error and nothing else is touched: the engine's
// threads never run guest code. Same contract as Sandbox, plus a deadline on every request
// (a hung VMM process is killed).
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <span>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "engine/net/sandbox_network.h"
#include "engine/sandbox.h"
#include "channel/frame.h"
#include "engine/vmm_cgroup.h"
#include "engine/vmm_child.h"
#include "engine/vmm_spares.h"

namespace thaw::engine {

// How a VMM process is started: its executable, the cgroup it runs in (null: the engine's),
// the network its sandbox's card plugs into (null: no card), for a restore the snapshot's
// shared image (null: the clone decodes its own pages), and where to take an idle, already
// started process from (null, or none ready: a new one is spawned). The sandbox keeps the
// network and the image until its process is gone; with a network, SandboxOptions::network
// must be set too (its rate limit; the TAP is the network's).
struct VmmLaunch {
  std::string executable;
  std::unique_ptr<SandboxCgroup> cgroup;
  std::unique_ptr<net::SandboxNetwork> network;
  std::shared_ptr<memory::SharedImage> shared_image;
  VmmSpares* spares = nullptr;
};

class SandboxProcess {
 public:
  // Spawn the VMM process and cold-start / restore in it. Throw SandboxError as Sandbox does
  // (and when the process cannot be started or dies), thaw::Error for a snapshot that cannot
  // be used.
  static std::unique_ptr<SandboxProcess> cold_start(VmmLaunch launch, const std::string& image_dir,
                                                    SandboxOptions options);
  static std::unique_ptr<SandboxProcess> restore(VmmLaunch launch, const std::string& snapshot_dir,
                                                 SandboxOptions options);
  ~SandboxProcess();  // shutdown(), then the process is reaped
  SandboxProcess(const SandboxProcess&) = delete;
  SandboxProcess& operator=(const SandboxProcess&) = delete;

  // As Sandbox::invoke; `timeout` is the function's (the process enforces it; a process that
  // does not answer within it plus a grace period is killed).
  InvokeResult invoke(const InvokeRequest& request, std::chrono::milliseconds timeout);
  SnapshotInfo checkpoint(const std::string& snapshot_dir, const std::string& image_dir,
                          const std::string& chunk_store);
  void shutdown();
  // Ends the VMM process now (SIGKILL); safe from any thread while another uses this sandbox:
  // its call in progress returns the process's end as its error.
  void kill();
  bool alive() const;
  pid_t pid() const { return pid_; }
  // The cgroup the VMM process runs in; empty when none.
  std::string cgroup_path() const { return cgroup_ ? cgroup_->path() : std::string(); }

 private:
  SandboxProcess(SandboxOptions options);
  void spawn(VmmLaunch launch);
  // A spare process (VmmSpares) into this sandbox's cgroup; false if it cannot be moved.
  bool adopt(VmmChild& spare);
  void start(channel::Message request, std::chrono::milliseconds deadline);
  // Sends a request and waits for its answer; nullopt when the process ended or the deadline
  // passed (the process is killed then). `fds` travel with the request's first byte (SCM_RIGHTS).
  std::optional<channel::Message> call(const channel::Message& request, std::chrono::milliseconds deadline,
                                       std::span<const int> fds = {});
  void read_loop();
  void kill_process();
  // Why the process is gone ("killed by signal 9"), once it is.
  std::string end_reason();

  std::unique_ptr<SandboxCgroup> cgroup_;  // first: removed after the process is reaped
  std::unique_ptr<net::SandboxNetwork> network_;  // likewise
  std::shared_ptr<memory::SharedImage> shared_image_;
  SandboxOptions options_;
  // For an adopted spare: the descriptors its first request carries, and the numbers each
  // takes in the process (a spawned process inherits them at those numbers instead).
  std::vector<int> passed_fds_, passed_targets_;
  pid_t pid_ = -1;
  // From the spawn to the process's first request read: a restore's vmm_process phase.
  std::chrono::steady_clock::time_point spawned_at_;
  double vmm_process_ms_ = 0;
  UniqueFd pidfd_;
  UniqueFd control_;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<channel::Message> answers_;
  bool ended_ = false;  // the socket closed or carried garbage
  bool alive_ = false;
  int wait_status_ = 0;
  bool reaped_ = false;
};

}  // namespace thaw::engine
