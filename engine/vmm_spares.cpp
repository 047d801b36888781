#include "engine/vmm_spares.h"

#include <spdlog/spdlog.h>

namespace thaw::engine {

namespace {
// How long a new spare may take to start: generous, for a software CPU under load.
constexpr std::chrono::milliseconds kReadyDeadline{60'000};
}  // namespace

VmmSpares::VmmSpares(std::string executable, unsigned count)
    : executable_(std::move(executable)), count_(count), wanted_(count) {
  if (count_ > 0) filler_ = std::jthread([this](std::stop_token stop) { fill_loop(stop); });
}

VmmSpares::~VmmSpares() {
  if (filler_.joinable()) {
    filler_.request_stop();
    filler_.join();
  }
  for (auto& c : idle_) kill_vmm_child(c);
}

std::optional<VmmChild> VmmSpares::take() {
  std::lock_guard lock(mu_);
  while (!idle_.empty()) {
    VmmChild c = std::move(idle_.front());
    idle_.pop_front();
    const pid_t pid = c.pid;
    if (!vmm_child_ended(c)) return c;
    spdlog::warn("a spare VMM process (pid {}) ended while idle: starting another", pid);
    ++wanted_;
    changed_.notify_all();
  }
  return std::nullopt;
}

void VmmSpares::replenish() {
  std::lock_guard lock(mu_);
  if (idle_.size() + wanted_ < count_) {
    wanted_ = count_ - static_cast<unsigned>(idle_.size());
    changed_.notify_all();
  }
}

size_t VmmSpares::ready() const {
  std::lock_guard lock(mu_);
  return idle_.size();
}

void VmmSpares::fill_loop(std::stop_token stop) {
  std::unique_lock lock(mu_);
  for (;;) {
    if (!changed_.wait(lock, stop, [&] { return wanted_ > 0; })) return;
    lock.unlock();
    std::optional<VmmChild> c;
    try {
      c = spawn_ready_spare(executable_, kReadyDeadline, stop);
    } catch (const std::exception& e) {
      if (!stop.stop_requested()) spdlog::warn("could not start a spare VMM process: {}", e.what());
    }
    lock.lock();
    --wanted_;  // a failure is not retried until the next replenish()
    if (c) idle_.push_back(std::move(*c));
  }
}

}  // namespace thaw::engine
