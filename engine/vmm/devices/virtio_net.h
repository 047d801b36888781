#pragma once
// virtio-net (device id 1) with one receive queue (0) and one transmit queue (1), no offloads
// and no mergeable buffers: every frame travels whole, behind the 12-byte virtio 1.x header,
// in one chain. The backend is a file descriptor that carries one Ethernet frame per read or
// write: a TAP device opened IFF_TAP | IFF_NO_PI (the sandbox's, in its network namespace), or
// a datagram socket in tests. The worker thread waits on QueueNotify (a KVM ioeventfd), a
// wake-up and the backend; it reads the backend only while the guest has receive buffers
// posted, so a guest that stops taking frames leaves them queued in the TAP (which drops when
// full, as a link would) instead of spinning.
//
// Frames the guest sends are written to the backend; one the backend refuses (full, down) is
// dropped and counted, never retried. An outbound rate limit (a token bucket on the bytes
// written) holds the next frame in the guest's ring until its tokens are there, so a guest
// over its rate is slowed by back-pressure on its own transmit queue, not by drops.
//
// When the machine pauses (between invocations, and before a snapshot), the card sends every
// frame the guest had made available, past the rate limit but charged to it: a connection the
// guest closed just before the pause has its FIN on the wire, and a snapshot's transmit ring
// is empty, so no restored clone replays a frame of the snapshotted machine. A frame read from
// the backend but not yet delivered is dropped then, as a real NIC's in-flight frames are.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "engine/vmm/devices/snapshottable.h"
#include "engine/vmm/devices/virtio_mmio.h"
#include "engine/vmm/net/mac_address.h"
#include "engine/vmm/net/token_bucket.h"

namespace thaw::vmm {

// Counters of one device, readable from any thread.
struct NetCounters {
  uint64_t tx_frames = 0, tx_bytes = 0, tx_dropped = 0;
  uint64_t tx_throttled = 0;  // frames that waited for the rate limit
  uint64_t rx_frames = 0, rx_bytes = 0, rx_dropped = 0;
};

class VirtioNet : public VirtioMmioDevice, public Snapshottable {
 public:
  // `backend` must be non-blocking. The MAC is what the guest reads from config space.
  VirtioNet(GuestMemoryView memory, UniqueFd backend, MacAddress mac, std::function<void()> interrupt,
            NetRateLimit tx_limit = {});
  ~VirtioNet() override;
  VirtioNet(const VirtioNet&) = delete;
  VirtioNet& operator=(const VirtioNet&) = delete;

  // eventfd the VM registers as an ioeventfd on QueueNotify.
  int notify_fd() const { return notify_fd_.get(); }
  // Starts / stops the worker thread (stop is idempotent; the destructor only ends the
  // thread). Stop also sends what the guest made available and drops a received frame in flight (see
  // above), so the rings are whole and the transmit ring empty for a snapshot.
  void start();
  void stop();
  // One pass: every frame the guest made available is sent, then backend frames are delivered
  // while receive buffers last (the worker's body; tests call it directly).
  void process();

  const MacAddress& mac() const { return mac_; }
  NetCounters counters() const;

  // Section "virtio-net": the transport (registers, queues) and the MAC. A restore keeps the
  // saved MAC (the guest's driver read it at boot) and the backend it was constructed with.
  std::string snapshot_id() const override { return "virtio-net"; }
  uint32_t snapshot_version() const override { return 1; }
  std::vector<std::byte> save_section() override;
  void restore_section(uint32_t version, std::span<const std::byte> bytes) override;
  static std::vector<std::pair<uint64_t, uint64_t>> ring_ranges(std::span<const std::byte> section);

 protected:
  uint32_t device_id() const override { return 1; }
  uint64_t device_features() const override;
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  void on_driver_ok() override { wake(); }
  void on_queue_notify() override { wake(); }
  void on_reset() override {
    rx_frame_len_ = 0;
    tx_held_ = false;
  }

 private:
  void wake();
  void run_worker();
  void join_worker();
  // `pausing`: send every available frame, charged to the rate limit (see above).
  void transmit(bool& interrupt, bool pausing);
  void flush_transmit();
  void receive(bool& interrupt);
  bool wants_backend_frames();
  void send_tx_frame();
  void arm_timer(std::chrono::nanoseconds after);

  UniqueFd backend_;
  MacAddress mac_;
  UniqueFd notify_fd_;
  UniqueFd wake_fd_;
  std::atomic<bool> stopping_{false};
  std::thread worker_;
  bool backend_failed_ = false;
  // A frame read from the backend that waits for a receive buffer (header included).
  std::vector<uint8_t> rx_frame_;
  size_t rx_frame_len_ = 0;
  std::vector<uint8_t> tx_frame_;  // header included
  TokenBucket tx_bucket_;
  UniqueFd timer_fd_;  // fires when the held frame's tokens are there
  bool tx_held_ = false;  // tx_frame_ waits for tokens; its chain is not returned yet
  uint16_t tx_held_head_ = 0;

  std::atomic<uint64_t> tx_frames_{0}, tx_bytes_{0}, tx_dropped_{0}, tx_throttled_{0};
  std::atomic<uint64_t> rx_frames_{0}, rx_bytes_{0}, rx_dropped_{0};
};

}  // namespace thaw::vmm
