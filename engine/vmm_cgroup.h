#pragma once
// cgroup v2 groups for VMM processes (DESIGN.md, "Processes"): every sandbox's VMM process runs
// in a group of its own, so its CPU and memory are bounded as Lambda bounds a function's, and a
// guest that eats memory is OOM-killed alone (memory.oom.group: the whole VMM, not a thread).
// The groups live under one parent: an engine's sandboxes are siblings; the parent must have
// the cpu and memory controllers (cgroup.subtree_control), which cgroup v2 only grants a group
// without processes of its own, or the root.
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "base/unique_fd.h"

namespace thaw::engine {

// Lambda's resources for a memory size: CPU grows linearly with memory, one full vCPU at
// 1,769 MB (128 MB = 0.072 vCPU, 10,240 MB = 5.8), and the guest gets as many vCPUs as that
// share needs, 1 to 6.
struct ResourceLimits {
  unsigned vcpus = 1;
  uint64_t cpu_period_us = 100'000;
  uint64_t cpu_quota_us = 0;  // 0: no CPU limit ("max")
  uint64_t memory_max_bytes = 0;
};

// What a VMM process takes on top of its guest's memory: its code and threads, the loader's
// io_uring buffers and chunk decompression, and the page cache of the chunks it reads (charged
// to the reader, reclaimable under pressure).
inline constexpr uint64_t kVmmMemoryOverhead = uint64_t{128} << 20;
inline constexpr uint32_t kMemoryPerVcpuMb = 1769;

// cpu_scale multiplies the CPU share (0: no CPU limit, for a software CPU on which Lambda's
// share would be a far slower machine than Lambda's).
ResourceLimits lambda_limits(uint32_t memory_mb, double cpu_scale);

// One sandbox's group. Removed when destroyed: destroy it after its process has been reaped.
class SandboxCgroup {
 public:
  SandboxCgroup(std::string path, UniqueFd procs);
  ~SandboxCgroup();
  SandboxCgroup(const SandboxCgroup&) = delete;
  SandboxCgroup& operator=(const SandboxCgroup&) = delete;
  const std::string& path() const { return path_; }
  // Its cgroup.procs, open for writing: a forked child writes "0" there to move itself in
  // before it execs (open(2) is not async-signal-safe after a fork of a threaded process;
  // write(2) is).
  int procs_fd() const { return procs_.get(); }
  // How many times the kernel's OOM killer acted in this group (memory.events).
  uint64_t oom_kills() const;

 private:
  std::string path_;
  UniqueFd procs_;
};

class CgroupParent {
 public:
  // `configured`: a cgroup v2 directory to create the groups in; empty: a `thaw` group under
  // this process's own cgroup. Null, with the reason in `why`, where cgroup v2 or its cpu and
  // memory controllers are not to be had (a cgroup v1 or hybrid host, a group with processes).
  // Empty sandbox groups a crashed engine left behind are removed.
  static std::unique_ptr<CgroupParent> open(const std::string& configured, std::string& why);
  const std::string& path() const { return path_; }
  // A new group with these limits. Throws SystemError naming the file that could not be set.
  std::unique_ptr<SandboxCgroup> create(const ResourceLimits& limits);

 private:
  explicit CgroupParent(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace thaw::engine
