#include "engine/vmm_cgroup.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/random.h"

namespace thaw::engine {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kSandboxPrefix = "sandbox-";

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_text(const fs::path& p, const std::string& text) {
  UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", p.string());
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    throw_errno("write", p.string() + " <- \"" + text + "\"");
}

bool has_word(const std::string& text, std::string_view word) {
  std::istringstream in(text);
  std::string w;
  while (in >> w)
    if (w == word) return true;
  return false;
}

// The mount point of the cgroup v2 hierarchy (field 5 of /proc/self/mountinfo, where the
// filesystem type after " - " is cgroup2); empty when there is none.
std::string cgroup2_mount() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream fields(line.substr(0, dash));
    std::string f, mount;
    for (int i = 0; i < 5 && fields >> f; ++i) mount = f;
    return mount;
  }
  return {};
}

// This process's group in the v2 hierarchy ("0::/path" in /proc/self/cgroup).
std::string own_cgroup() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  return {};
}

// cpu and memory for dir's children. cgroup v2 refuses it (EBUSY) for a non-root group that
// holds processes.
void enable_controllers(const fs::path& dir) {
  auto on = read_text(dir / "cgroup.subtree_control");
  if (has_word(on, "cpu") && has_word(on, "memory")) return;
  write_text(dir / "cgroup.subtree_control", "+cpu +memory");
}

void remove_stale_groups(const fs::path& parent) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    if (e.path().filename().string().rfind(kSandboxPrefix, 0) != 0) continue;
    // rmdir removes only a group with no processes: one a live engine uses stays.
    if (::rmdir(e.path().c_str()) == 0) spdlog::debug("removed the stale cgroup {}", e.path().string());
  }
}

}  // namespace

ResourceLimits lambda_limits(uint32_t memory_mb, double cpu_scale) {
  ResourceLimits l;
  double share = double(memory_mb) / kMemoryPerVcpuMb;
  l.vcpus = std::clamp(static_cast<unsigned>(std::ceil(share)), 1u, 6u);
  if (cpu_scale > 0) {
    // The kernel's smallest quota is 1 ms per period.
    l.cpu_quota_us = std::max<uint64_t>(1000, std::llround(share * cpu_scale * double(l.cpu_period_us)));
  }
  l.memory_max_bytes = (uint64_t{memory_mb} << 20) + kVmmMemoryOverhead;
  return l;
}

SandboxCgroup::SandboxCgroup(std::string path, UniqueFd procs) : path_(std::move(path)), procs_(std::move(procs)) {}

SandboxCgroup::~SandboxCgroup() {
  procs_.reset();
  if (::rmdir(path_.c_str()) != 0)
    spdlog::debug("cgroup {} not removed ({}); the next engine removes it", path_, std::strerror(errno));
}

uint64_t SandboxCgroup::oom_kills() const {
  std::istringstream in(read_text(fs::path(path_) / "memory.events"));
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value)
    if (key == "oom_kill") return value;
  return 0;
}

std::unique_ptr<CgroupParent> CgroupParent::open(const std::string& configured, std::string& why) {
  auto mount = cgroup2_mount();
  if (mount.empty()) {
    why = "no cgroup v2 hierarchy is mounted";
    return nullptr;
  }
  fs::path parent;
  try {
    if (configured.empty()) {
      auto own = own_cgroup();
      if (own.empty()) {
        why = "this process is in no cgroup v2 group";
        return nullptr;
      }
      fs::path base = fs::path(mount) / fs::path(own).relative_path();
      auto available = read_text(base / "cgroup.controllers");
      if (!has_word(available, "cpu") || !has_word(available, "memory")) {
        why = "the cgroup v2 group " + base.string() +
              " has no cpu and memory controllers (on a hybrid host they belong to cgroup v1)";
        return nullptr;
      }
      enable_controllers(base);
      parent = base / "thaw";
    } else {
      parent = configured;
    }
    if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("mkdir", parent.string());
    enable_controllers(parent);
  } catch (const SystemError& e) {
    why = std::string(e.what()) +
          (e.code().value() == EBUSY ? " (a cgroup that holds processes cannot give its children controllers: run "
                                       "the engine in a delegated group and name a child of it as the cgroup parent)"
                                     : "");
    return nullptr;
  }
  remove_stale_groups(parent);
  return std::unique_ptr<CgroupParent>(new CgroupParent(parent.string()));
}

std::unique_ptr<SandboxCgroup> CgroupParent::create(const ResourceLimits& limits) {
  fs::path dir = fs::path(path_) / (std::string(kSandboxPrefix) + random_hex(8));
  if (::mkdir(dir.c_str(), 0755) != 0) throw_errno("mkdir", dir.string());
  try {
    write_text(dir / "cpu.max", (limits.cpu_quota_us ? std::to_string(limits.cpu_quota_us) : std::string("max")) +
                                    " " + std::to_string(limits.cpu_period_us));
    write_text(dir / "memory.max", std::to_string(limits.memory_max_bytes));
    write_text(dir / "memory.oom.group", "1");
    UniqueFd procs(::open((dir / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
    if (!procs) throw_errno("open", (dir / "cgroup.procs").string());
    return std::make_unique<SandboxCgroup>(dir.string(), std::move(procs));
  } catch (...) {
    ::rmdir(dir.c_str());
    throw;
  }
}

}  // namespace thaw::engine
