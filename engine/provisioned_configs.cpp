#include "engine/provisioned_configs.h"

namespace thaw::engine {

void ProvisionedConfigs::settle_locked(ProvisionedConfig& c) {
  if (c.state == ProvisionedStatus::kFailed) return;
  c.state = c.ready >= c.requested ? ProvisionedStatus::kReady : ProvisionedStatus::kInProgress;
}

ProvisionedConfig ProvisionedConfigs::put(const std::string& function, const std::string& qualifier,
                                          unsigned requested, const std::string& pool_key,
                                          const std::string& now_iso) {
  std::lock_guard lock(mu_);
  auto& c = configs_[{function, qualifier}];
  c.function = function;
  c.qualifier = qualifier;
  if (c.generation == 0 || c.pool_key != pool_key) {
    c.generation = next_generation_++;  // the old generation's sandboxes are no longer wanted
    c.pool_key = pool_key;
    c.ready = c.starting = 0;
  }
  c.requested = requested;
  c.last_modified = now_iso;
  c.state = ProvisionedStatus::kInProgress;
  c.status_reason.clear();
  settle_locked(c);
  cv_.notify_all();
  return c;
}

bool ProvisionedConfigs::remove(const std::string& function, const std::string& qualifier) {
  std::lock_guard lock(mu_);
  return configs_.erase({function, qualifier}) > 0;
}

void ProvisionedConfigs::remove_function(const std::string& function) {
  std::lock_guard lock(mu_);
  std::erase_if(configs_, [&](const auto& kv) { return kv.first.first == function; });
}

std::optional<ProvisionedConfig> ProvisionedConfigs::get(const std::string& function,
                                                         const std::string& qualifier) const {
  std::lock_guard lock(mu_);
  auto it = configs_.find({function, qualifier});
  if (it == configs_.end()) return std::nullopt;
  return it->second;
}

std::vector<ProvisionedConfig> ProvisionedConfigs::of_function(const std::string& function) const {
  std::lock_guard lock(mu_);
  std::vector<ProvisionedConfig> out;
  for (const auto& [k, c] : configs_)
    if (k.first == function) out.push_back(c);
  return out;
}

std::vector<ProvisionedConfig> ProvisionedConfigs::all() const {
  std::lock_guard lock(mu_);
  std::vector<ProvisionedConfig> out;
  for (const auto& [k, c] : configs_) out.push_back(c);
  return out;
}

unsigned ProvisionedConfigs::requested_of(const std::string& function) const {
  std::lock_guard lock(mu_);
  unsigned n = 0;
  for (const auto& [k, c] : configs_)
    if (k.first == function) n += c.requested;
  return n;
}

std::optional<ProvisionWork> ProvisionedConfigs::next_work() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (stopping_) return std::nullopt;
    for (auto& [k, c] : configs_) {
      if (c.state == ProvisionedStatus::kFailed || c.pool_key.empty() || c.ready + c.starting >= c.requested)
        continue;
      ++c.starting;
      return ProvisionWork{c.function, c.qualifier, c.pool_key, c.generation};
    }
    cv_.wait(lock);
  }
}

void ProvisionedConfigs::started(const ProvisionWork& w) {
  std::lock_guard lock(mu_);
  auto it = configs_.find({w.function, w.qualifier});
  if (it == configs_.end() || it->second.generation != w.generation) return;
  auto& c = it->second;
  if (c.starting > 0) --c.starting;
  ++c.ready;
  settle_locked(c);
}

void ProvisionedConfigs::start_failed(const ProvisionWork& w, const std::string& reason) {
  std::lock_guard lock(mu_);
  auto it = configs_.find({w.function, w.qualifier});
  if (it == configs_.end() || it->second.generation != w.generation) return;
  auto& c = it->second;
  if (c.starting > 0) --c.starting;
  c.state = ProvisionedStatus::kFailed;
  c.status_reason = reason;
}

void ProvisionedConfigs::gone(const Key& key, uint64_t generation) {
  std::lock_guard lock(mu_);
  auto it = configs_.find(key);
  if (it == configs_.end() || it->second.generation != generation) return;
  auto& c = it->second;
  if (c.ready > 0) --c.ready;
  settle_locked(c);
  cv_.notify_all();
}

bool ProvisionedConfigs::still_wanted(const Key& key, uint64_t generation) {
  std::lock_guard lock(mu_);
  auto it = configs_.find(key);
  if (it == configs_.end() || it->second.generation != generation) return false;
  auto& c = it->second;
  if (c.ready <= c.requested) return true;
  --c.ready;  // a surplus after the configuration asked for fewer
  settle_locked(c);
  return false;
}

void ProvisionedConfigs::lent(const Key& key) {
  std::lock_guard lock(mu_);
  auto it = configs_.find(key);
  if (it == configs_.end()) return;
  ++it->second.usage.in_use;
  ++it->second.usage.invocations;
}

void ProvisionedConfigs::returned(const Key& key) {
  std::lock_guard lock(mu_);
  auto it = configs_.find(key);
  if (it != configs_.end() && it->second.usage.in_use > 0) --it->second.usage.in_use;
}

void ProvisionedConfigs::spilled_over(const Key& key) {
  std::lock_guard lock(mu_);
  auto it = configs_.find(key);
  if (it != configs_.end()) ++it->second.usage.spillovers;
}

void ProvisionedConfigs::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

}  // namespace thaw::engine
