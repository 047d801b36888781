#pragma once
// The hardware-reduced ACPI sleep control and status registers the FADT points at (one I/O
// port each). Writing SLP_EN with SLP_TYP = _S5's value powers the VM off; other sleep states
// are not offered. Status reads 0.
#include <functional>

#include "engine/vmm/boot/acpi.h"
#include "engine/vmm/devices/bus_device.h"

namespace thaw::vmm {

class AcpiSleep : public BusDevice {
 public:
  explicit AcpiSleep(std::function<void()> on_poweroff) : on_poweroff_(std::move(on_poweroff)) {}
  void read(uint64_t, std::span<uint8_t> data) override {
    for (auto& b : data) b = 0;
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    if (offset != 0 || data.empty()) return;
    uint8_t v = data[0];
    if ((v & (1u << 5)) && ((v >> 2) & 0x7) == kAcpiS5SleepType) on_poweroff_();
  }

 private:
  std::function<void()> on_poweroff_;
};

}  // namespace thaw::vmm
