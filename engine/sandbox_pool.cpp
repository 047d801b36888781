#include "engine/sandbox_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/random.h"

namespace thaw::engine {
using Clock = std::chrono::steady_clock;

LogRoute::LogRoute(std::string function, std::string version,
                   std::function<void(const std::string&, const std::string&, const std::string&, std::string_view)> sink)
    : function_(std::move(function)), version_(std::move(version)), sink_(std::move(sink)) {}

void LogRoute::emit(std::string_view line) {
  std::string id;
  {
    std::lock_guard lock(mu_);
    if (capturing_) lines_.emplace_back(line);
    id = request_id_;
  }
  if (sink_) sink_(function_, version_, id, line);
}

void LogRoute::begin_invocation(const std::string& request_id) {
  std::lock_guard lock(mu_);
  request_id_ = request_id;
  capturing_ = true;
  lines_.clear();
}

std::vector<std::string> LogRoute::end_invocation() {
  std::lock_guard lock(mu_);
  capturing_ = false;
  request_id_.clear();
  return std::exchange(lines_, {});
}

SandboxPool::SandboxPool(std::chrono::milliseconds idle_timeout)
    : idle_timeout_(idle_timeout), reaper_([this] { reap_loop(); }) {}

SandboxPool::~SandboxPool() {
  shutdown_all();
  cv_.notify_all();
  reaper_.join();
}

std::unique_ptr<PooledSandbox> SandboxPool::take(const std::string& key) {
  std::vector<std::unique_ptr<PooledSandbox>> dead;
  std::unique_ptr<PooledSandbox> s;
  {
    std::lock_guard lock(mu_);
    // Most recently used first: the others age out under the idle timeout. One whose VMM
    // process died while idle is not handed out.
    for (;;) {
      auto [first, last] = idle_.equal_range(key);
      if (first == last) break;
      auto newest = first;
      for (auto it = first; it != last; ++it)
        if (it->second.expires > newest->second.expires) newest = it;
      auto candidate = std::move(newest->second.sandbox);
      idle_.erase(newest);
      if (candidate->sandbox->alive()) {
        s = std::move(candidate);
        break;
      }
      dead.push_back(std::move(candidate));
    }
  }
  shut_down(std::move(dead));
  return s;
}

void SandboxPool::give_back(const std::string& key, std::unique_ptr<PooledSandbox> s, bool keep, bool pinned) {
  if (!s) return;
  std::vector<std::unique_ptr<PooledSandbox>> gone;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !keep || !s->sandbox->alive()) {
      gone.push_back(std::move(s));
    } else {
      auto timeout = idle_timeout_.count() > 0 ? idle_timeout_ : std::chrono::milliseconds::max() / 4;
      auto jitter = std::chrono::milliseconds(idle_timeout_.count() > 0 ? random_u64() % (idle_timeout_.count() / 10 + 1) : 0);
      idle_.emplace(key, Idle{std::move(s), pinned ? Clock::time_point::max() : Clock::now() + timeout + jitter});
    }
  }
  cv_.notify_all();
  shut_down(std::move(gone));
}

void SandboxPool::retire(const std::string& prefix, bool pinned_too) {
  std::vector<std::unique_ptr<PooledSandbox>> gone;
  {
    std::lock_guard lock(mu_);
    for (auto it = idle_.begin(); it != idle_.end();) {
      if (it->first.starts_with(prefix) && (pinned_too || it->second.expires != Clock::time_point::max())) {
        gone.push_back(std::move(it->second.sandbox));
        it = idle_.erase(it);
      } else {
        ++it;
      }
    }
  }
  shut_down(std::move(gone));
}

bool SandboxPool::shut_down_least_recent() {
  std::vector<std::unique_ptr<PooledSandbox>> gone;
  {
    std::lock_guard lock(mu_);
    auto oldest = std::min_element(idle_.begin(), idle_.end(),
                                   [](const auto& a, const auto& b) { return a.second.expires < b.second.expires; });
    if (oldest == idle_.end() || oldest->second.expires == Clock::time_point::max()) return false;  // pinned
    gone.push_back(std::move(oldest->second.sandbox));
    idle_.erase(oldest);
  }
  shut_down(std::move(gone));
  return true;
}

void SandboxPool::shutdown_all() {
  std::vector<std::unique_ptr<PooledSandbox>> gone;
  {
    std::lock_guard lock(mu_);
    for (auto& [k, idle] : idle_) gone.push_back(std::move(idle.sandbox));
    idle_.clear();
    stopping_ = true;
  }
  cv_.notify_all();
  shut_down(std::move(gone));
}

unsigned SandboxPool::idle_count() const {
  std::lock_guard lock(mu_);
  return unsigned(idle_.size());
}

void SandboxPool::reap_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto next = Clock::time_point::max();
    std::vector<std::unique_ptr<PooledSandbox>> gone;
    auto now = Clock::now();
    for (auto it = idle_.begin(); it != idle_.end();) {
      if (it->second.expires <= now) {
        gone.push_back(std::move(it->second.sandbox));
        it = idle_.erase(it);
      } else {
        next = std::min(next, it->second.expires);
        ++it;
      }
    }
    if (!gone.empty()) {
      lock.unlock();
      spdlog::debug("pool: {} idle sandbox(es) reached the idle timeout", gone.size());
      shut_down(std::move(gone));
      lock.lock();
      continue;
    }
    if (next == Clock::time_point::max())
      cv_.wait(lock);
    else
      cv_.wait_until(lock, next);
  }
}

void SandboxPool::shut_down(std::vector<std::unique_ptr<PooledSandbox>> gone) {
  for (auto& s : gone) {
    try {
      s->sandbox->shutdown();
    } catch (const std::exception& e) {
      spdlog::warn("pool: shutting a sandbox down failed: {}", e.what());
    }
  }
}

}  // namespace thaw::engine
