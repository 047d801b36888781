#include "snapshot/process_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/unique_fd.h"
#include "snapshot/format.h"

namespace thaw::snapshot {

std::vector<ProcessMapping> read_process_maps(pid_t pid) {
  std::string file = "/proc/" + std::to_string(pid) + "/maps";
  std::ifstream in(file);
  if (!in) throw Error("process " + std::to_string(pid) + ": cannot read " + file + " (no such process?)");
  std::vector<ProcessMapping> out;
  std::string line;
  while (std::getline(in, line)) {
    ProcessMapping m;
    unsigned long long start = 0, end = 0;
    char perms[8] = {};
    int path_at = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %*s %*s %*s %n", &start, &end, perms, &path_at) < 3) continue;
    m.start = start;
    m.end = end;
    m.perms = perms;
    if (path_at > 0 && static_cast<size_t>(path_at) <= line.size()) m.path = line.substr(static_cast<size_t>(path_at));
    out.push_back(std::move(m));
  }
  return out;
}

bool capturable(const ProcessMapping& m) {
  if (m.perms.empty() || m.perms[0] != 'r' || m.end <= m.start) return false;
  if (m.path == "[vvar]" || m.path == "[vvar_vclock]" || m.path == "[vsyscall]") return false;
  if (m.path.rfind("/dev/", 0) == 0 && m.path.rfind("/dev/shm/", 0) != 0 && m.path.rfind("/dev/zero", 0) != 0)
    return false;
  return true;
}

ProcessImage read_process_memory(pid_t pid, const std::function<void(uint64_t, uint64_t)>& progress) {
  ProcessImage img;
  uint64_t total = 0;
  for (auto& m : read_process_maps(pid))
    if (capturable(m)) {
      total += m.end - m.start;
      img.mappings.push_back(std::move(m));
    }
  std::string mem_file = "/proc/" + std::to_string(pid) + "/mem";
  UniqueFd fd(::open(mem_file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", mem_file);
  uint64_t done = 0;
  for (const auto& m : img.mappings) {
    size_t size = m.end - m.start;
    Mapping buf = Mapping::anonymous(size, "process memory copy");
    // Whole mapping first; where the kernel refuses (EIO: a file mapping past EOF, a guard),
    // page by page, leaving refused pages zero.
    size_t off = 0;
    while (off < size) {
      ssize_t n = ::pread(fd.get(), buf.data() + off, size - off, static_cast<off_t>(m.start + off));
      if (n > 0) {
        off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EIO && errno != EFAULT && errno != ENOMEM && errno != EPERM) throw_errno("pread", mem_file);
      // Could not read at `off`: skip one page.
      ++img.unreadable_pages;
      off += kPageSize;
    }
    img.regions.push_back({m.start, std::span<const std::byte>(buf.data(), size)});
    img.buffers.push_back(std::move(buf));
    done += size;
    if (progress) progress(done, total);
  }
  return img;
}

}  // namespace thaw::snapshot
