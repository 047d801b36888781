#pragma once
// Provisioned concurrency configurations (PutProvisionedConcurrencyConfig) and the bookkeeping
// of the sandboxes provisioned for them, apart from the sandboxes themselves: how many each
// configuration asks for, how many are ready or starting, its status (IN_PROGRESS until all are
// ready, READY, or FAILED with the reason when one could not be started), and the work a
// provisioner thread takes one sandbox at a time (next_work).
//
// A configuration's sandboxes belong to one generation: the artifact (pool key) of the version
// it resolved to when it was put. A put that resolves to another artifact (an alias moved to
// another version) starts a new generation; the old generation's sandboxes are no longer wanted
// and are shut down as they are seen (still_wanted). Thread-safe.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "thaw/engine.h"

namespace thaw::engine {

// How invocations used a configuration's sandboxes (Lambda's ProvisionedConcurrency* metrics).
struct ProvisionedUsage {
  unsigned in_use = 0;          // running an invocation now
  uint64_t invocations = 0;     // that ran on one of them
  uint64_t spillovers = 0;      // that found none idle and went on demand
};

struct ProvisionedConfig {
  std::string function, qualifier;  // qualifier: a published version or an alias
  unsigned requested = 0;
  unsigned ready = 0;     // sandboxes provisioned and alive
  unsigned starting = 0;  // being started for it now
  ProvisionedStatus state = ProvisionedStatus::kInProgress;
  std::string status_reason;
  std::string last_modified;  // ISO 8601, as Lambda shows it
  std::string pool_key;       // the artifact its sandboxes run; empty: none yet (the version is not Active)
  uint64_t generation = 0;
  ProvisionedUsage usage;
};

// One sandbox the provisioner is to start.
struct ProvisionWork {
  std::string function, qualifier, pool_key;
  uint64_t generation = 0;
};

class ProvisionedConfigs {
 public:
  using Key = std::pair<std::string, std::string>;  // (function, qualifier)

  // Adds or changes a configuration; IN_PROGRESS until its sandboxes are ready. Returns it.
  ProvisionedConfig put(const std::string& function, const std::string& qualifier, unsigned requested,
                        const std::string& pool_key, const std::string& now_iso);
  // False: there was none.
  bool remove(const std::string& function, const std::string& qualifier);
  void remove_function(const std::string& function);

  std::optional<ProvisionedConfig> get(const std::string& function, const std::string& qualifier) const;
  std::vector<ProvisionedConfig> of_function(const std::string& function) const;
  std::vector<ProvisionedConfig> all() const;
  // Sandboxes all configurations of `function` ask for (they count against its concurrency).
  unsigned requested_of(const std::string& function) const;

  // Blocks until a configuration needs one more sandbox (counted as starting), or stop().
  std::optional<ProvisionWork> next_work();
  // What became of a work item: a sandbox ready for it, or the reason none could be started
  // (the configuration goes FAILED and asks for no more until it is put again).
  void started(const ProvisionWork& w);
  void start_failed(const ProvisionWork& w, const std::string& reason);
  // A ready sandbox of (key, generation) went away (crashed, timed out, shut down): one more is
  // started for it while the configuration still asks for it.
  void gone(const Key& key, uint64_t generation);
  // Whether a sandbox of (key, generation), back from an invocation, is still wanted: its
  // configuration exists, has that generation and does not have more ready than it asks for.
  // False means the caller shuts it down, and it is no longer counted.
  bool still_wanted(const Key& key, uint64_t generation);

  // An invocation took one of its sandboxes, gave it back, or found none idle.
  void lent(const Key& key);
  void returned(const Key& key);
  void spilled_over(const Key& key);

  void stop();

 private:
  void settle_locked(ProvisionedConfig& c);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<Key, ProvisionedConfig> configs_;
  uint64_t next_generation_ = 1;
  bool stopping_ = false;
};

}  // namespace thaw::engine
