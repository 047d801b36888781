#include "engine/net/network_pool.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/log.h"

namespace thaw::engine::net {

NetworkPool::NetworkPool(NetworkPoolOptions options) : options_(std::move(options)) {
  if (options_.ready > 0) filler_ = std::thread([this] { fill_loop(); });
}

NetworkPool::~NetworkPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (filler_.joinable()) filler_.join();
}

std::unique_ptr<SandboxNetwork> NetworkPool::make() {
  size_t first;
  {
    std::lock_guard lock(mu_);
    first = next_slot_;
  }
  auto net = SandboxNetwork::create(options_.range, first);
  std::lock_guard lock(mu_);
  next_slot_ = (net->slot() + 1) % options_.range.slots();
  return net;
}

std::unique_ptr<SandboxNetwork> NetworkPool::take() {
  {
    std::lock_guard lock(mu_);
    if (!ready_.empty()) {
      auto net = std::move(ready_.front());
      ready_.pop_front();
      cv_.notify_all();
      return net;
    }
  }
  return make();
}

std::string NetworkPool::wait_filled() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return stopping_ || ready_.size() >= options_.ready || !last_error_.empty(); });
  return ready_.size() >= options_.ready ? std::string() : last_error_;
}

size_t NetworkPool::ready_count() const {
  std::lock_guard lock(mu_);
  return ready_.size();
}

void NetworkPool::fill_loop() {
  constexpr auto kFirstBackoff = std::chrono::milliseconds(100), kMaxBackoff = std::chrono::milliseconds(5000);
  auto backoff = kFirstBackoff;
  // Background work: the refill that follows a take must not slow the restore that took it
  // where CPUs are few (one namespace and ruleset is tens of milliseconds of kernel work).
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19) != 0)
    spdlog::debug("sandbox network pool: setpriority: {}", std::strerror(errno));
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (ready_.size() >= options_.ready) {
      cv_.wait(lock, [&] { return stopping_ || ready_.size() < options_.ready; });
      continue;
    }
    lock.unlock();
    std::unique_ptr<SandboxNetwork> net;
    std::string error;
    try {
      net = make();
    } catch (const std::exception& e) {
      error = e.what();
    }
    lock.lock();
    if (net) {
      ready_.push_back(std::move(net));
      last_error_.clear();
      backoff = kFirstBackoff;
      cv_.notify_all();
      continue;
    }
    if (error != last_error_) spdlog::warn("sandbox network pool: {} (trying again)", error);
    last_error_ = error;
    cv_.notify_all();
    cv_.wait_for(lock, backoff, [&] { return stopping_; });
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
  // Destroyed outside the lock: each deletes its host link.
  std::deque<std::unique_ptr<SandboxNetwork>> gone;
  gone.swap(ready_);
  lock.unlock();
}

}  // namespace thaw::engine::net
