#include "engine/vmm/devices/vmgenid.h"

#include <atomic>
#include <cstring>

#include "base/byte_codec.h"
#include "base/error.h"
#include "base/random.h"
#include "engine/vmm/kvm.h"

namespace thaw::vmm {

VmGenId::VmGenId(int vm_fd, uint32_t slot, uint64_t gpa, uint32_t gsi)
    : page_(Mapping::anonymous(4096, "VMGenID page")), ged_irq_(vm_fd, gsi) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.guest_phys_addr = gpa;
  region.memory_size = page_.size();
  region.userspace_addr = reinterpret_cast<uint64_t>(page_.data());
  kvm_ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION", "VMGenID page");
  write_id(random_id());
}

VmGenerationId VmGenId::random_id() {
  VmGenerationId id;
  fill_random(std::as_writable_bytes(std::span(id)));
  return id;
}

void VmGenId::write_id(const VmGenerationId& id) {
  std::memcpy(page_.data(), id.data(), id.size());
  // The guest reads the page only after the interrupt below; order the id before it.
  std::atomic_thread_fence(std::memory_order_release);
}

void VmGenId::change(const VmGenerationId& id) {
  write_id(id);
  ged_irq_.trigger();
}

VmGenerationId VmGenId::id() const {
  VmGenerationId id;
  std::memcpy(id.data(), page_.data(), id.size());
  return id;
}

std::vector<std::byte> VmGenId::save_section() {
  VmGenerationId current = id();
  ByteWriter w;
  w.put(current);
  return w.take();
}

void VmGenId::restore_section(uint32_t version, std::span<const std::byte> bytes) {
  if (version != 1) throw Error("vmgenid: state section version " + std::to_string(version) + ", this thaw reads 1");
  ByteReader r(bytes, "vmgenid state");
  auto saved = r.get<VmGenerationId>("generation id");
  if (!r.at_end()) throw Error("vmgenid state: trailing bytes");
  write_id(saved);
}

}  // namespace thaw::vmm
