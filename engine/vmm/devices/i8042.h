#pragma once
// Just enough of the i8042 keyboard controller for a guest to reset the machine: status reads
// say "no data, ready", and command 0xFE (pulse reset line, what reboot=k does) ends the VM as
// a reboot. Ports 0x60 (data) and 0x64 (command/status).
#include <functional>

#include "engine/vmm/devices/bus_device.h"

namespace thaw::vmm {

class I8042 : public BusDevice {
 public:
  explicit I8042(std::function<void()> on_reset) : on_reset_(std::move(on_reset)) {}
  void read(uint64_t, std::span<uint8_t> data) override {
    for (auto& b : data) b = 0;
  }
  // Registered at 0x60 with size 5: offset 4 is the command port.
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    if (offset == 4 && !data.empty() && data[0] == 0xfe) on_reset_();
  }

 private:
  std::function<void()> on_reset_;
};

}  // namespace thaw::vmm
