#include "memory/private_writes.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/error.h"
#include "base/unique_fd.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace thaw::memory {

namespace {

constexpr uint64_t kPage = 4096;
// /proc/PID/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
constexpr uint64_t kPresent = 1ull << 63;
constexpr uint64_t kFileOrSharedAnon = 1ull << 61;
constexpr uint64_t kExclusive = 1ull << 56;

void add_run(std::vector<std::pair<uint64_t, uint64_t>>& out, uint64_t gpa, uint64_t bytes) {
  if (!out.empty() && out.back().first + out.back().second == gpa)
    out.back().second += bytes;
  else
    out.emplace_back(gpa, bytes);
}

}  // namespace

std::vector<std::pair<uint64_t, uint64_t>> privately_written_ranges(const GuestMemory& memory) {
  UniqueFd fd(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", "/proc/self/pagemap");
  std::vector<std::pair<uint64_t, uint64_t>> out;
  std::vector<uint64_t> entries(4096);
  for (const auto& r : memory.regions()) {
    const uint64_t base = reinterpret_cast<uint64_t>(r.host);
    for (uint64_t done = 0; done < r.size;) {
      uint64_t pages = std::min<uint64_t>(entries.size(), (r.size - done) / kPage);
      off_t at = static_cast<off_t>((base + done) / kPage * sizeof(uint64_t));
      ssize_t n = ::pread(fd.get(), entries.data(), pages * sizeof(uint64_t), at);
      if (n != static_cast<ssize_t>(pages * sizeof(uint64_t))) throw_errno("pread", "/proc/self/pagemap");
      for (uint64_t i = 0; i < pages; ++i) {
        uint64_t e = entries[i];
        if ((e & kPresent) && !(e & kFileOrSharedAnon) && (e & kExclusive))
          add_run(out, r.guest_addr + done + i * kPage, kPage);
      }
      done += pages * kPage;
    }
  }
  return out;
}

uint64_t copy_before_write(const GuestMemory& memory, std::span<const std::pair<uint64_t, uint64_t>> ranges) {
  uint64_t done = 0;
  for (const auto& [gpa, bytes] : ranges) {
    const MemoryRegion* r = memory.find(gpa);
    if (!r || !r->contains(gpa + bytes - 1)) continue;  // not in this machine's memory
    std::byte* host = memory.host_address(gpa, bytes);
    if (::madvise(host, bytes, MADV_POPULATE_WRITE) != 0) break;
    done += bytes;
  }
  return done;
}

}  // namespace thaw::memory
