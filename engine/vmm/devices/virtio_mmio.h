#pragma once
// The virtio-mmio transport, version 2 (virtio 1.x, section 4.2): the register file the driver
// programs (features, queues, status, interrupt status/ack, config space). Devices derive from
// it and process their queues on their own thread under mutex(). A device that finds the guest
// misbehaving calls fail(): it is marked broken and DEVICE_NEEDS_RESET is raised, nothing more.
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/vmm/devices/bus_device.h"
#include "engine/vmm/devices/virtqueue.h"
#include "engine/vmm/guest_memory_view.h"

namespace thaw {
class ByteWriter;
class ByteReader;
}  // namespace thaw

namespace thaw::vmm {

inline constexpr uint32_t kVirtioStatusAcknowledge = 1;
inline constexpr uint32_t kVirtioStatusDriver = 2;
inline constexpr uint32_t kVirtioStatusDriverOk = 4;
inline constexpr uint32_t kVirtioStatusFeaturesOk = 8;
inline constexpr uint32_t kVirtioStatusNeedsReset = 0x40;
inline constexpr uint32_t kVirtioStatusFailed = 0x80;
inline constexpr uint64_t kVirtioFVersion1 = 1ull << 32;
inline constexpr uint64_t kVirtioMmioQueueNotify = 0x50;
inline constexpr uint16_t kVirtioMaxQueueSize = 256;

// Transport state as plain data (saved with the VM).
struct VirtioMmioState {
  uint32_t status = 0;
  uint32_t device_features_sel = 0;
  uint32_t driver_features_sel = 0;
  uint64_t driver_features = 0;
  uint32_t queue_sel = 0;
  uint32_t interrupt_status = 0;
  uint32_t config_generation = 0;
  bool broken = false;
  std::vector<QueueState> queues;
};

// The transport state's byte form, for the sections of devices built on it.
void put_transport_state(ByteWriter& w, const VirtioMmioState& s);
VirtioMmioState get_transport_state(ByteReader& r);
// The guest memory ({address, length}) of every ready queue's three rings: what a device's
// worker reads as soon as a machine restored with this state runs.
std::vector<std::pair<uint64_t, uint64_t>> ring_ranges(const VirtioMmioState& s);

class VirtioMmioDevice : public BusDevice {
 public:
  VirtioMmioDevice(GuestMemoryView memory, uint16_t num_queues, std::function<void()> interrupt);

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  bool driver_ok() const { return (s_.status & kVirtioStatusDriverOk) && !s_.broken; }
  bool broken() const { return s_.broken; }
  uint32_t status() const { return s_.status; }
  std::mutex& mutex() { return mu_; }

  // The register file and queues, for a snapshot (taken with the device's worker stopped) and
  // for a restore into a device that has not started yet. A restored queue is validated
  // against guest memory like one the driver sets ready: a bad one marks the device broken.
  VirtioMmioState transport_state();
  void restore_transport_state(VirtioMmioState state);

 protected:
  virtual uint32_t device_id() const = 0;
  virtual uint64_t device_features() const = 0;  // without VIRTIO_F_VERSION_1 (always offered)
  virtual void read_config(uint64_t offset, std::span<uint8_t> data) const = 0;
  // All called with mutex() held.
  virtual void on_driver_ok() {}
  virtual void on_reset() {}
  virtual void on_queue_notify() {}  // a QueueNotify write that did not go through an ioeventfd

  // With mutex() held: flag used buffers to the driver / give up on a misbehaving driver.
  void signal_used();
  void fail(const std::string& reason);

  GuestMemoryView memory_;
  VirtioMmioState s_;

 private:
  QueueState* selected_queue();
  std::mutex mu_;
  std::function<void()> interrupt_;
};

}  // namespace thaw::vmm
