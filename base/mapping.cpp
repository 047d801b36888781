#include "base/mapping.h"

#include <sys/mman.h>

#include <string>

#include "base/error.h"

namespace thaw {

Mapping& Mapping::operator=(Mapping&& o) noexcept {
  if (this != &o) {
    reset();
    addr_ = std::exchange(o.addr_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

Mapping Mapping::map(size_t size, int prot, int flags, int fd, long offset, const char* what) {
  void* p = ::mmap(nullptr, size, prot, flags, fd, offset);
  if (p == MAP_FAILED) throw_errno("mmap", std::string(what) + ", " + std::to_string(size) + " bytes");
  return Mapping(p, size);
}

Mapping Mapping::anonymous(size_t size, const char* what) {
  return map(size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0, what);
}

void Mapping::reset() noexcept {
  if (addr_) ::munmap(addr_, size_);
  addr_ = nullptr;
  size_ = 0;
}

}  // namespace thaw
