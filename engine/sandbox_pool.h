#pragma once
// The warm pool: idle sandboxes per (function, version), each running at most one invocation
// at a time. An invocation leases a sandbox (an idle one, or none: the caller makes a new one)
// and gives it back when it is still alive; sandboxes idle past the idle timeout (with up to
// 10 % jitter) are shut down by the pool's reaper thread (SHUTDOWN phase).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/concurrency_limits.h"
#include "engine/sandbox_process.h"

namespace thaw::engine {

// Where a sandbox's log lines go: to the invocation it is running (for its log tail) and to
// the engine's log callback.
class LogRoute {
 public:
  LogRoute(std::string function, std::string version, std::function<void(const std::string& function,
                                                                         const std::string& version,
                                                                         const std::string& request_id,
                                                                         std::string_view line)> sink);
  void emit(std::string_view line);
  // Lines emitted from now until end_invocation() are also kept for that invocation.
  void begin_invocation(const std::string& request_id);
  std::vector<std::string> end_invocation();

 private:
  std::string function_, version_;
  std::function<void(const std::string&, const std::string&, const std::string&, std::string_view)> sink_;
  std::mutex mu_;
  std::string request_id_;
  bool capturing_ = false;
  std::vector<std::string> lines_;
};

struct PooledSandbox {
  PooledSandbox() = default;
  PooledSandbox(const PooledSandbox&) = delete;
  PooledSandbox& operator=(const PooledSandbox&) = delete;
  ~PooledSandbox() {
    if (on_gone) on_gone();
  }

  ConcurrencyLimits::MemoryLease memory;  // first: given back after the sandbox is gone
  std::unique_ptr<SandboxProcess> sandbox;
  std::shared_ptr<LogRoute> log;
  uint64_t invocations = 0;
  // A sandbox provisioned for a configuration: its (function, qualifier) and generation, and
  // what tells the configuration that it is gone (set while it counts as one of its sandboxes).
  std::pair<std::string, std::string> provisioned_for;
  uint64_t provisioned_generation = 0;
  std::function<void()> on_gone;
};

class SandboxPool {
 public:
  explicit SandboxPool(std::chrono::milliseconds idle_timeout);
  ~SandboxPool();  // shuts every idle sandbox down
  SandboxPool(const SandboxPool&) = delete;
  SandboxPool& operator=(const SandboxPool&) = delete;

  // An idle sandbox of `key`, or nullptr. The caller owns it until give_back().
  std::unique_ptr<PooledSandbox> take(const std::string& key);
  // Back to idle if it is alive and `keep` (its version is still current); else shut down.
  // `pinned`: never shut down for idleness nor to make room (provisioned concurrency).
  void give_back(const std::string& key, std::unique_ptr<PooledSandbox> s, bool keep, bool pinned = false);
  // Shuts down the idle sandboxes of every key that starts with `prefix` (a function, or one
  // of its versions, that changed or went away); busy ones go when given back without keep.
  // `pinned_too` false spares the pinned ones.
  void retire(const std::string& prefix, bool pinned_too = true);
  // Shuts down the idle sandbox whose idle time ends first (of any key: the least recently used,
  // as every sandbox gets the same timeout), to make room for another. False: none is idle.
  bool shut_down_least_recent();
  // Shuts every idle sandbox down and refuses give_back from then on.
  void shutdown_all();

  unsigned idle_count() const;

 private:
  struct Idle {
    std::unique_ptr<PooledSandbox> sandbox;
    std::chrono::steady_clock::time_point expires;
  };
  void reap_loop();
  // Shuts down outside the lock: SHUTDOWN waits for the runtime for up to 2 s.
  static void shut_down(std::vector<std::unique_ptr<PooledSandbox>> gone);

  std::chrono::milliseconds idle_timeout_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<std::string, Idle> idle_;
  bool stopping_ = false;
  std::thread reaper_;
};

}  // namespace thaw::engine
