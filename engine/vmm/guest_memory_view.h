#pragma once
// A bounds-checked view of guest-physical memory: a list of {guest_addr, host pointer, size}
// slots. Devices reach guest memory only through translate(), which never returns a pointer
// unless the whole range [gpa, gpa+len) lies inside one slot (no overflow, no straddling).
// The view does not own memory: the VM's memory::GuestMemory (or a test's buffer) does.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace thaw::memory {
class GuestMemory;
}

namespace thaw::vmm {

struct GuestSlot {
  uint64_t guest_addr = 0;
  std::byte* host = nullptr;
  uint64_t size = 0;
};

class GuestMemoryView {
 public:
  GuestMemoryView() = default;
  explicit GuestMemoryView(std::vector<GuestSlot> slots) : slots_(std::move(slots)) {}
  static GuestMemoryView of(const memory::GuestMemory& memory);

  // Host address of [gpa, gpa+len) or nullptr if any byte of it is outside guest memory.
  std::byte* translate(uint64_t gpa, uint64_t len) const noexcept {
    for (const GuestSlot& s : slots_) {
      if (gpa < s.guest_addr) continue;
      uint64_t off = gpa - s.guest_addr;
      if (off >= s.size && !(off == s.size && len == 0)) continue;
      if (len > s.size - off) return nullptr;
      return s.host + off;
    }
    return nullptr;
  }
  const std::vector<GuestSlot>& slots() const noexcept { return slots_; }

 private:
  std::vector<GuestSlot> slots_;
};

}  // namespace thaw::vmm
