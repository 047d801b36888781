#pragma once
// virtio-console (device id 3) with one port and no multiport: the host<->guest byte channel,
// /dev/hvc0 in the guest. Queue 0 (receiveq) carries host->guest bytes, queue 1 (transmitq)
// guest->host bytes, both in whole guest buffers (a page each with Linux's driver), so a
// payload costs one notification per buffer, not one exit per byte. Notifications arrive on an
// eventfd (registered as a KVM ioeventfd on QueueNotify); a worker thread moves the data.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "engine/vmm/devices/snapshottable.h"
#include "engine/vmm/devices/virtio_mmio.h"

namespace thaw::vmm {

class VirtioConsole : public VirtioMmioDevice, public Snapshottable {
 public:
  using Receiver = std::function<void(std::span<const uint8_t>)>;

  VirtioConsole(GuestMemoryView memory, std::function<void()> interrupt);
  ~VirtioConsole() override;
  VirtioConsole(const VirtioConsole&) = delete;
  VirtioConsole& operator=(const VirtioConsole&) = delete;

  using VirtioMmioDevice::read;  // the register file (BusDevice) next to the channel's read/write
  using VirtioMmioDevice::write;

  // eventfd the VM registers as an ioeventfd on QueueNotify.
  int notify_fd() const { return notify_fd_.get(); }
  // Starts / stops the worker thread (stop is idempotent; the destructor stops it too).
  void start();
  void stop();

  // Host -> guest: queued and delivered as the guest supplies receive buffers.
  void write(std::span<const uint8_t> bytes);
  // Guest -> host: called on the worker thread with each batch. Set before start(). Without a
  // receiver, bytes collect in an inbox that read() drains.
  void set_receiver(Receiver receiver) { receiver_ = std::move(receiver); }
  // Up to out.size() bytes from the inbox, waiting at most `timeout` for the first; 0 on timeout.
  size_t read(std::span<uint8_t> out, std::chrono::milliseconds timeout);

  // One pass over both queues (the worker's body; tests call it directly).
  void process();

  // Host -> guest bytes not yet delivered (saved with the machine), and putting them back.
  std::vector<uint8_t> pending_bytes();
  void restore_pending_bytes(std::vector<uint8_t> bytes);

  // Section "virtio-console": the transport (registers, queues) and the pending bytes. Saved
  // with the worker stopped; restored before start(), its queues validated against guest memory.
  std::string snapshot_id() const override { return "virtio-console"; }
  uint32_t snapshot_version() const override { return 1; }
  std::vector<std::byte> save_section() override;
  void restore_section(uint32_t version, std::span<const std::byte> bytes) override;
  // The guest memory the rings of a saved section occupy ({address, length} per ring): the
  // worker reads them as soon as the restored machine runs.
  static std::vector<std::pair<uint64_t, uint64_t>> ring_ranges(std::span<const std::byte> section);

  uint64_t bytes_to_guest() const { return to_guest_total_.load(); }
  uint64_t bytes_from_guest() const { return from_guest_total_.load(); }

 protected:
  uint32_t device_id() const override { return 3; }
  uint64_t device_features() const override { return 0; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  void on_driver_ok() override { wake(); }
  void on_queue_notify() override { wake(); }

 private:
  void wake();
  void run_worker();
  void deliver(std::span<const uint8_t> bytes);

  UniqueFd notify_fd_;
  UniqueFd wake_fd_;
  std::atomic<bool> stopping_{false};
  std::thread worker_;

  std::mutex pending_mu_;  // host -> guest bytes not yet in guest buffers
  std::vector<uint8_t> pending_;
  size_t pending_off_ = 0;

  Receiver receiver_;
  std::mutex inbox_mu_;
  std::condition_variable inbox_cv_;
  std::vector<uint8_t> inbox_;

  std::atomic<uint64_t> to_guest_total_{0}, from_guest_total_{0};
};

}  // namespace thaw::vmm
