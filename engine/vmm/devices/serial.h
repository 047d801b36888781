#pragma once
// 16550A UART as Linux's 8250 driver expects it at 0x3f8: divisor latch, scratch, FIFO
// detection through IIR, loopback for the driver's probe, THR-empty and receive interrupts
// (edge: one pulse per event, as on ISA). Output bytes go to a sink; input is queued by the host.
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>

#include "engine/vmm/devices/bus_device.h"
#include "engine/vmm/devices/snapshottable.h"

namespace thaw::vmm {

// Register state as plain data (saved with the VM).
struct SerialState {
  uint8_t ier = 0, lcr = 0, mcr = 0x08, scr = 0, dll = 0x0c, dlh = 0;
  bool fifo_enabled = false;
  bool thre_interrupt_pending = false;
  std::deque<uint8_t> rx;
};

class Serial : public BusDevice, public Snapshottable {
 public:
  using Sink = std::function<void(uint8_t)>;
  Serial(Sink output, std::function<void()> interrupt) : output_(std::move(output)), interrupt_(std::move(interrupt)) {}

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  // Host -> guest bytes (terminal input).
  void enqueue_input(std::span<const uint8_t> bytes);

  SerialState state() {
    std::lock_guard lock(mu_);
    return s_;
  }
  void restore_state(SerialState s) {
    std::lock_guard lock(mu_);
    s_ = std::move(s);
  }

  std::string snapshot_id() const override { return "serial"; }
  uint32_t snapshot_version() const override { return 1; }
  std::vector<std::byte> save_section() override;
  void restore_section(uint32_t version, std::span<const std::byte> bytes) override;

 private:
  uint8_t iir_locked();
  Sink output_;
  std::function<void()> interrupt_;
  std::mutex mu_;
  SerialState s_;
};

}  // namespace thaw::vmm
