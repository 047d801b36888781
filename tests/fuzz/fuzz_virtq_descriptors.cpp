// libFuzzer target: the split-virtqueue descriptor walker and Virtqueue::pop on guest memory
// filled from the input. Any chain must either be rejected (VirtqueueError) or consist only of
// buffers inside guest memory; nothing may read outside it (ASan watches).
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/vmm/devices/virtqueue.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace thaw::vmm;
  constexpr uint64_t kBase = 0x1000;
  constexpr size_t kMem = 4096;
  if (size < 4) return 0;
  uint16_t queue_size = static_cast<uint16_t>(1u << (data[0] % 9));  // 1..256
  uint16_t head = static_cast<uint16_t>(data[1] | (data[2] << 8));
  uint8_t layout = data[3];
  std::vector<std::byte> mem(kMem);
  std::memcpy(mem.data(), data + 4, std::min(size - 4, kMem));
  GuestMemoryView view({{kBase, mem.data(), kMem}});
  try {
    DescriptorChain c = walk_descriptor_chain(view, kBase + 16ull * (layout & 0x3f), queue_size, head);
    for (const DescriptorBuffer& b : c.buffers) {
      if (b.len && (b.host < mem.data() || b.host + b.len > mem.data() + kMem)) __builtin_trap();
      volatile std::byte sink{};
      for (uint32_t i = 0; i < b.len; ++i) sink = b.host[i];
      (void)sink;
    }
  } catch (const VirtqueueError&) {
  }
  QueueState q{queue_size, true, kBase, kBase + 0x800, kBase + 0xa00, static_cast<uint16_t>(layout), 0};
  try {
    validate_queue(view, q, 256);
    Virtqueue vq(view, q);
    for (int i = 0; i < 4; ++i) {
      auto c = vq.pop();
      if (!c) break;
      vq.push_used(c->head, static_cast<uint32_t>(c->writable_bytes));
    }
  } catch (const VirtqueueError&) {
  }
  return 0;
}
