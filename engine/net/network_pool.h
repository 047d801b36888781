#pragma once
// Sandbox networks made ahead, so a sandbox that needs one (a cold start or a restore) takes
// a ready one instead of waiting for its namespace, veth, TAP and firewall. A filler thread
// keeps `ready` of them; when it cannot make one (the range is full, a module is missing)
// it logs why and tries again later, doubling its wait up to a few seconds, and take() makes
// one on the caller's thread, so the caller gets the real error. The filler runs at the lowest
// CPU priority (nice 19): a restore that took a network must not wait for its replacement.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "engine/net/host_range.h"
#include "engine/net/sandbox_network.h"

namespace thaw::engine::net {

struct NetworkPoolOptions {
  HostRange range;
  size_t ready = 2;  // 0: make each on demand
};

class NetworkPool {
 public:
  explicit NetworkPool(NetworkPoolOptions options);
  ~NetworkPool();  // stops the filler and destroys the ready ones
  NetworkPool(const NetworkPool&) = delete;
  NetworkPool& operator=(const NetworkPool&) = delete;

  // A ready network, or one made now. Throws what SandboxNetwork::create throws.
  std::unique_ptr<SandboxNetwork> take();
  // Blocks until `ready` networks are ready or the filler's last attempt failed; returns the
  // failure's message ("" when full). For start-up (`thaw serve` fills before it listens).
  std::string wait_filled();
  size_t ready_count() const;

 private:
  void fill_loop();
  std::unique_ptr<SandboxNetwork> make();

  NetworkPoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<SandboxNetwork>> ready_;
  std::string last_error_;
  size_t next_slot_ = 0;  // where the next claim starts looking: slots are tried round-robin
  bool stopping_ = false;
  std::thread filler_;
};

}  // namespace thaw::engine::net
