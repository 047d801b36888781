#pragma once
// Port I/O and MMIO dispatch. A BusDevice answers accesses relative to its base; the Bus maps
// address ranges to devices. The bus is fixed before the vCPUs start, so lookups take no lock;
// each device serialises its own state.
#include <cstdint>
#include <span>
#include <vector>

namespace thaw::vmm {

class BusDevice {
 public:
  virtual ~BusDevice() = default;
  virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

class Bus {
 public:
  void add(uint64_t base, uint64_t size, BusDevice* device) { ranges_.push_back({base, size, device}); }
  // False when no device claims the address (the caller decides: reads see all-ones).
  bool read(uint64_t addr, std::span<uint8_t> data) const {
    for (const Range& r : ranges_)
      if (addr >= r.base && addr - r.base < r.size) {
        r.device->read(addr - r.base, data);
        return true;
      }
    return false;
  }
  bool write(uint64_t addr, std::span<const uint8_t> data) const {
    for (const Range& r : ranges_)
      if (addr >= r.base && addr - r.base < r.size) {
        r.device->write(addr - r.base, data);
        return true;
      }
    return false;
  }

 private:
  struct Range {
    uint64_t base, size;
    BusDevice* device;
  };
  std::vector<Range> ranges_;
};

}  // namespace thaw::vmm
