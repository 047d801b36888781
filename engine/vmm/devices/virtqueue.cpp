#include "engine/vmm/devices/virtqueue.h"

#include <cstring>
#include <string>

namespace thaw::vmm {
namespace {

struct RawDescriptor {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(RawDescriptor) == 16);

std::byte* ring_pointer(const GuestMemoryView& m, uint64_t gpa, uint64_t len, const char* what) {
  std::byte* p = m.translate(gpa, len);
  if (!p) throw VirtqueueError(std::string("virtqueue: ") + what + " outside guest memory");
  return p;
}

uint64_t desc_table_bytes(uint16_t n) { return 16ull * n; }
uint64_t avail_ring_bytes(uint16_t n) { return 6ull + 2ull * n; }
uint64_t used_ring_bytes(uint16_t n) { return 6ull + 8ull * n; }

}  // namespace

DescriptorChain walk_descriptor_chain(const GuestMemoryView& memory, uint64_t desc_addr, uint16_t queue_size,
                                      uint16_t head) {
  if (queue_size == 0) throw VirtqueueError("virtqueue: queue size 0");
  std::byte* table = ring_pointer(memory, desc_addr, desc_table_bytes(queue_size), "descriptor table");
  DescriptorChain chain;
  chain.head = head;
  uint16_t index = head;
  bool seen_writable = false;
  for (uint32_t count = 0;; ++count) {
    if (index >= queue_size) throw VirtqueueError("virtqueue: descriptor index " + std::to_string(index) + " out of range");
    if (count >= queue_size) throw VirtqueueError("virtqueue: descriptor chain longer than the queue (a loop)");
    RawDescriptor d;
    std::memcpy(&d, table + 16ull * index, sizeof d);  // one copy: the guest may change it meanwhile
    if (d.flags & kVirtqDescFIndirect) throw VirtqueueError("virtqueue: indirect descriptor (not negotiated)");
    bool writable = d.flags & kVirtqDescFWrite;
    if (!writable && seen_writable) throw VirtqueueError("virtqueue: readable descriptor after a writable one");
    seen_writable |= writable;
    std::byte* host = d.len ? memory.translate(d.addr, d.len) : nullptr;
    if (d.len && !host) throw VirtqueueError("virtqueue: buffer outside guest memory");
    chain.buffers.push_back({host, d.len, writable});
    (writable ? chain.writable_bytes : chain.readable_bytes) += d.len;
    if (!(d.flags & kVirtqDescFNext)) break;
    index = d.next;
  }
  return chain;
}

void validate_queue(const GuestMemoryView& memory, const QueueState& q, uint16_t max_size) {
  if (q.size == 0 || q.size > max_size || (q.size & (q.size - 1)))
    throw VirtqueueError("virtqueue: bad queue size " + std::to_string(q.size));
  if (q.desc_addr % 16 || q.avail_addr % 2 || q.used_addr % 4) throw VirtqueueError("virtqueue: misaligned ring");
  ring_pointer(memory, q.desc_addr, desc_table_bytes(q.size), "descriptor table");
  ring_pointer(memory, q.avail_addr, avail_ring_bytes(q.size), "available ring");
  ring_pointer(memory, q.used_addr, used_ring_bytes(q.size), "used ring");
}

std::optional<DescriptorChain> Virtqueue::pop() {
  auto* avail = reinterpret_cast<uint16_t*>(ring_pointer(memory_, q_.avail_addr, avail_ring_bytes(q_.size), "available ring"));
  // Acquire: the ring entries and descriptors the driver wrote before bumping idx are visible.
  uint16_t avail_idx = __atomic_load_n(&avail[1], __ATOMIC_ACQUIRE);
  uint16_t pending = static_cast<uint16_t>(avail_idx - q_.next_avail);
  if (pending == 0) return std::nullopt;
  if (pending > q_.size) throw VirtqueueError("virtqueue: driver made more buffers available than the queue holds");
  uint16_t head = __atomic_load_n(&avail[2 + (q_.next_avail % q_.size)], __ATOMIC_RELAXED);
  DescriptorChain chain = walk_descriptor_chain(memory_, q_.desc_addr, q_.size, head);
  ++q_.next_avail;
  return chain;
}

void Virtqueue::push_used(uint16_t head, uint32_t written) {
  std::byte* used = ring_pointer(memory_, q_.used_addr, used_ring_bytes(q_.size), "used ring");
  std::byte* elem = used + 4 + 8ull * (q_.next_used % q_.size);
  uint32_t id = head;
  std::memcpy(elem, &id, 4);
  std::memcpy(elem + 4, &written, 4);
  ++q_.next_used;
  // Release: the element (and the data written into the buffers) before the new idx.
  __atomic_store_n(reinterpret_cast<uint16_t*>(used + 2), q_.next_used, __ATOMIC_RELEASE);
}

bool Virtqueue::should_interrupt() const {
  // Full barrier: our used idx store must be visible before we read the driver's flags, or a
  // driver that just re-enabled interrupts could miss this one.
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  auto* avail = reinterpret_cast<uint16_t*>(ring_pointer(memory_, q_.avail_addr, avail_ring_bytes(q_.size), "available ring"));
  return !(__atomic_load_n(&avail[0], __ATOMIC_RELAXED) & kVirtqAvailFNoInterrupt);
}

}  // namespace thaw::vmm
