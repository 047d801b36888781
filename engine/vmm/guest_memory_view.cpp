#include "engine/vmm/guest_memory_view.h"

#include "memory/guest_memory.h"

namespace thaw::vmm {

GuestMemoryView GuestMemoryView::of(const memory::GuestMemory& memory) {
  std::vector<GuestSlot> slots;
  for (const auto& r : memory.regions()) slots.push_back({r.guest_addr, r.host, r.size});
  return GuestMemoryView(std::move(slots));
}

}  // namespace thaw::vmm
