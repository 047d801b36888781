#pragma once
// Split virtqueues (virtio 1.x, section 2.7) as the device sees them. Every address and index
// the guest supplies is untrusted: descriptor chains are checked against guest memory bounds,
// the queue size (index range and chain length, which also catches loops) and the features
// offered (no indirect descriptors). A violation throws VirtqueueError; the transport then marks
// the device broken (NEEDS_RESET) instead of touching memory outside the guest.
#include <cstdint>
#include <optional>
#include <vector>

#include "base/error.h"
#include "engine/vmm/guest_memory_view.h"

namespace thaw::vmm {

class VirtqueueError : public Error {
 public:
  using Error::Error;
};

inline constexpr uint16_t kVirtqDescFNext = 1;
inline constexpr uint16_t kVirtqDescFWrite = 2;
inline constexpr uint16_t kVirtqDescFIndirect = 4;
inline constexpr uint16_t kVirtqAvailFNoInterrupt = 1;

// One queue's configuration and progress, as plain data (saved and restored with the device).
struct QueueState {
  uint16_t size = 0;  // negotiated number of entries (a power of two)
  bool ready = false;
  uint64_t desc_addr = 0;
  uint64_t avail_addr = 0;
  uint64_t used_addr = 0;
  uint16_t next_avail = 0;  // free-running, as the rings' idx fields
  uint16_t next_used = 0;
};

// One buffer of a chain, already translated to a host pointer that is valid for `len` bytes.
struct DescriptorBuffer {
  std::byte* host = nullptr;
  uint32_t len = 0;
  bool device_writable = false;
};

struct DescriptorChain {
  uint16_t head = 0;
  std::vector<DescriptorBuffer> buffers;
  uint64_t readable_bytes = 0;
  uint64_t writable_bytes = 0;
};

// Walks the chain starting at `head` in the descriptor table at `desc_addr` (queue_size
// entries). Throws VirtqueueError on a bad index, a buffer outside guest memory, a chain longer
// than the queue (a loop), an indirect descriptor, or a readable buffer after a writable one.
DescriptorChain walk_descriptor_chain(const GuestMemoryView& memory, uint64_t desc_addr, uint16_t queue_size,
                                      uint16_t head);

// Checks a queue's layout when the driver sets it ready: size a power of two no larger than
// max_size, rings aligned and inside guest memory. Throws VirtqueueError.
void validate_queue(const GuestMemoryView& memory, const QueueState& q, uint16_t max_size);

// The device side of one ready queue. Not thread-safe: the owning device serialises access.
class Virtqueue {
 public:
  Virtqueue(const GuestMemoryView& memory, QueueState& state) : memory_(memory), q_(state) {}

  // The next chain the driver made available, or nullopt. Throws VirtqueueError.
  std::optional<DescriptorChain> pop();
  // Returns a chain to the driver with `written` bytes written into its writable buffers.
  void push_used(uint16_t head, uint32_t written);
  // Whether the driver wants an interrupt now (VRING_AVAIL_F_NO_INTERRUPT not set).
  bool should_interrupt() const;

 private:
  const GuestMemoryView& memory_;
  QueueState& q_;
};

}  // namespace thaw::vmm
