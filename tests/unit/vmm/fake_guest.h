#pragma once
// A plain buffer standing in for guest memory, with the ring writes a driver makes, and the
// register sequence Linux's virtio-mmio driver uses to bring a device up: the unit tests of
// the virtqueue walker and of each virtio device share them.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "engine/vmm/devices/virtio_mmio.h"
#include "engine/vmm/devices/virtqueue.h"

namespace thaw::vmm {

constexpr uint64_t kBase = 0x10000;  // guest address of the buffer
constexpr uint64_t kSize = 0x10000;
constexpr uint16_t kQ = 8;
constexpr uint64_t kDesc = kBase, kAvail = kBase + 0x1000, kUsed = kBase + 0x2000, kData = kBase + 0x4000;

struct FakeGuest {
  std::vector<std::byte> mem = std::vector<std::byte>(kSize);
  GuestMemoryView view{{{kBase, mem.data(), kSize}}};

  std::byte* at(uint64_t gpa) { return mem.data() + (gpa - kBase); }
  void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    std::byte* d = at(kDesc + 16ull * i);
    std::memcpy(d, &addr, 8);
    std::memcpy(d + 8, &len, 4);
    std::memcpy(d + 12, &flags, 2);
    std::memcpy(d + 14, &next, 2);
  }
  void avail(uint16_t slot, uint16_t head, uint16_t idx, uint64_t ring = kAvail) {
    std::memcpy(at(ring + 4 + 2ull * slot), &head, 2);
    std::memcpy(at(ring + 2), &idx, 2);
  }
  uint16_t used_idx(uint64_t ring = kUsed) {
    uint16_t v;
    std::memcpy(&v, at(ring + 2), 2);
    return v;
  }
  uint32_t used_len(uint16_t slot, uint64_t ring = kUsed) {
    uint32_t v;
    std::memcpy(&v, at(ring + 4 + 8ull * slot + 4), 4);
    return v;
  }
};

// Drives a device's registers as Linux's driver does.
struct MmioDriver {
  FakeGuest g;
  VirtioMmioDevice* device = nullptr;

  void w32(uint64_t off, uint32_t v) { device->write(off, {reinterpret_cast<uint8_t*>(&v), 4}); }
  uint32_t r32(uint64_t off) {
    uint32_t v = 0;
    device->read(off, {reinterpret_cast<uint8_t*>(&v), 4});
    return v;
  }
  void setup_queue(uint32_t index, uint64_t desc, uint64_t avail, uint64_t used) {
    w32(0x30, index);
    w32(0x38, kQ);
    w32(0x80, uint32_t(desc));
    w32(0x84, uint32_t(desc >> 32));
    w32(0x90, uint32_t(avail));
    w32(0x94, 0);
    w32(0xa0, uint32_t(used));
    w32(0xa4, 0);
    w32(0x44, 1);
  }
  // Identification, then the device's low feature word and VIRTIO_F_VERSION_1 accepted.
  void negotiate(uint32_t device_id, uint32_t low_features) {
    ASSERT_EQ(r32(0x0), 0x74726976u);
    ASSERT_EQ(r32(0x4), 2u);
    ASSERT_EQ(r32(0x8), device_id);
    w32(0x70, kVirtioStatusAcknowledge | kVirtioStatusDriver);
    w32(0x14, 0);
    ASSERT_EQ(r32(0x10), low_features);
    w32(0x14, 1);
    ASSERT_EQ(r32(0x10), 1u);  // VIRTIO_F_VERSION_1
    w32(0x24, 0);
    w32(0x20, low_features);
    w32(0x24, 1);
    w32(0x20, 1);
    w32(0x70, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk);
    ASSERT_TRUE(r32(0x70) & kVirtioStatusFeaturesOk);
  }
  void driver_ok() {
    w32(0x70, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk | kVirtioStatusDriverOk);
  }
};

}  // namespace thaw::vmm
