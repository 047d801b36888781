#include "engine/vmm/devices/virtio_net.h"

#include <poll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include "base/byte_codec.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/vmm/devices/event_fd.h"

namespace thaw::vmm {
namespace {

constexpr size_t kReceiveQueue = 0, kTransmitQueue = 1;
constexpr uint64_t kVirtioNetFMac = 1ull << 5;
// struct virtio_net_hdr_v1: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset,
// num_buffers. All zero (no offloads) but num_buffers, which is 1 without mergeable buffers.
constexpr size_t kHeaderSize = 12;
constexpr size_t kNumBuffersOffset = 10;
constexpr size_t kMaxFrame = 65535;
constexpr uint32_t kSectionVersion = 1;

}  // namespace

VirtioNet::VirtioNet(GuestMemoryView memory, UniqueFd backend, MacAddress mac, std::function<void()> interrupt,
                     NetRateLimit tx_limit)
    : VirtioMmioDevice(std::move(memory), 2, std::move(interrupt)),
      backend_(std::move(backend)),
      mac_(mac),
      notify_fd_(make_eventfd("virtio-net")),
      wake_fd_(make_eventfd("virtio-net")),
      rx_frame_(kHeaderSize + kMaxFrame),
      tx_bucket_(tx_limit, TokenBucket::Clock::now()),
      timer_fd_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
  if (!backend_) throw Error("virtio-net: no backend (TAP) file descriptor");
  if (!timer_fd_) throw_errno("timerfd_create", "virtio-net");
}

// Only the thread: the guest's memory may be gone by now (the VM stopped the card while it was there).
VirtioNet::~VirtioNet() { join_worker(); }

uint64_t VirtioNet::device_features() const { return kVirtioNetFMac; }

void VirtioNet::read_config(uint64_t offset, std::span<uint8_t> data) const {
  // struct virtio_net_config: mac[6], then status, max_virtqueue_pairs, mtu (features not offered).
  for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < mac_.size() ? mac_[offset + i] : 0;
}

void VirtioNet::start() {
  if (worker_.joinable()) return;
  stopping_ = false;
  worker_ = std::thread([this] { run_worker(); });
}

void VirtioNet::join_worker() {
  if (worker_.joinable()) {
    stopping_ = true;
    wake();
    worker_.join();
  }
}

void VirtioNet::stop() {
  join_worker();
  std::lock_guard lock(mutex());
  if (rx_frame_len_) ++rx_dropped_;
  rx_frame_len_ = 0;
  flush_transmit();
}

void VirtioNet::flush_transmit() {
  if (driver_ok() && !broken() && s_.queues[kTransmitQueue].ready) {
    bool interrupt = false;
    try {
      transmit(interrupt, true);
    } catch (const VirtqueueError& e) {
      fail(e.what());
      interrupt = false;
    }
    if (interrupt) signal_used();
  }
  tx_held_ = false;
}

void VirtioNet::wake() { signal_eventfd(wake_fd_.get()); }

bool VirtioNet::wants_backend_frames() {
  std::lock_guard lock(mutex());
  return driver_ok() && s_.queues[kReceiveQueue].ready && rx_frame_len_ == 0 && !backend_failed_;
}

void VirtioNet::run_worker() {
  while (!stopping_) {
    pollfd fds[4] = {{notify_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}, {-1, POLLIN, 0},
                     {timer_fd_.get(), POLLIN, 0}};
    if (wants_backend_frames()) fds[2].fd = backend_.get();
    int r = ::poll(fds, 4, -1);
    if (r < 0 && errno != EINTR) {
      spdlog::error("virtio-net: poll: {}", std::strerror(errno));
      return;
    }
    if (fds[2].revents & (POLLERR | POLLHUP | POLLNVAL)) {
      std::lock_guard lock(mutex());
      spdlog::warn("virtio-net: the backend failed (poll events {:#x}); the guest's link receives nothing more",
                   static_cast<unsigned>(fds[2].revents));
      backend_failed_ = true;
    }
    drain_eventfd(notify_fd_.get());
    drain_eventfd(wake_fd_.get());
    drain_eventfd(timer_fd_.get());  // a timerfd reads as an 8-byte count, as an eventfd does
    if (stopping_) break;
    process();
  }
}

void VirtioNet::process() {
  std::lock_guard lock(mutex());
  if (!driver_ok()) return;
  bool interrupt = false;
  try {
    transmit(interrupt, false);
    receive(interrupt);
  } catch (const VirtqueueError& e) {
    fail(e.what());
    interrupt = false;
  }
  if (interrupt) signal_used();
}

void VirtioNet::transmit(bool& interrupt, bool pausing) {
  QueueState& qs = s_.queues[kTransmitQueue];
  if (!qs.ready) return;
  Virtqueue tx(memory_, qs);
  auto now = TokenBucket::Clock::now();
  // Pausing, every frame goes and is charged to the bucket (into debt); else it waits for its tokens.
  auto may_send = [&](size_t bytes) {
    if (!pausing) return tx_bucket_.take(bytes, now);
    tx_bucket_.charge(bytes, now);
    return true;
  };
  bool used = false;
  if (tx_held_) {
    if (!may_send(tx_frame_.size() - kHeaderSize)) {
      arm_timer(tx_bucket_.wait_for(tx_frame_.size() - kHeaderSize, now));
      return;
    }
    send_tx_frame();
    tx.push_used(tx_held_head_, 0);
    tx_held_ = false;
    used = true;
  }
  while (auto chain = tx.pop()) {
    if (chain->readable_bytes <= kHeaderSize || chain->readable_bytes > kHeaderSize + kMaxFrame) {
      tx.push_used(chain->head, 0);
      used = true;
      ++tx_dropped_;
      continue;
    }
    tx_frame_.clear();
    for (const DescriptorBuffer& b : chain->buffers)
      if (!b.device_writable)
        tx_frame_.insert(tx_frame_.end(), reinterpret_cast<uint8_t*>(b.host), reinterpret_cast<uint8_t*>(b.host) + b.len);
    if (!may_send(tx_frame_.size() - kHeaderSize)) {
      tx_held_ = true;
      tx_held_head_ = chain->head;
      ++tx_throttled_;
      arm_timer(tx_bucket_.wait_for(tx_frame_.size() - kHeaderSize, now));
      break;
    }
    send_tx_frame();
    tx.push_used(chain->head, 0);
    used = true;
  }
  interrupt |= used && tx.should_interrupt();
}

void VirtioNet::send_tx_frame() {
  ssize_t n = ::write(backend_.get(), tx_frame_.data() + kHeaderSize, tx_frame_.size() - kHeaderSize);
  if (n < 0) {
    ++tx_dropped_;
    return;
  }
  ++tx_frames_;
  tx_bytes_ += static_cast<uint64_t>(n);
}

void VirtioNet::arm_timer(std::chrono::nanoseconds after) {
  itimerspec t{};
  auto ns = std::max<int64_t>(after.count(), 1);
  t.it_value.tv_sec = ns / 1'000'000'000;
  t.it_value.tv_nsec = ns % 1'000'000'000;
  if (::timerfd_settime(timer_fd_.get(), 0, &t, nullptr) != 0)
    spdlog::warn("virtio-net: timerfd_settime: {}", std::strerror(errno));
}

void VirtioNet::receive(bool& interrupt) {
  QueueState& qs = s_.queues[kReceiveQueue];
  if (!qs.ready) return;
  Virtqueue rx(memory_, qs);
  bool used = false;
  for (;;) {
    if (rx_frame_len_ == 0) {
      if (backend_failed_) break;
      ssize_t n = ::read(backend_.get(), rx_frame_.data() + kHeaderSize, kMaxFrame);
      if (n <= 0) {
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          spdlog::warn("virtio-net: reading the backend: {}; the guest's link receives nothing more",
                       std::strerror(errno));
          backend_failed_ = true;
        }
        break;
      }
      std::memset(rx_frame_.data(), 0, kHeaderSize);
      rx_frame_[kNumBuffersOffset] = 1;
      rx_frame_len_ = kHeaderSize + static_cast<size_t>(n);
    }
    auto chain = rx.pop();
    if (!chain) break;  // the frame waits for the guest's next buffers (it notifies when it posts them)
    used = true;
    if (chain->writable_bytes < rx_frame_len_) {
      rx.push_used(chain->head, 0);
      ++rx_dropped_;
      rx_frame_len_ = 0;
      continue;
    }
    size_t off = 0;
    for (const DescriptorBuffer& b : chain->buffers) {
      if (!b.device_writable || off == rx_frame_len_) continue;
      size_t n = std::min<size_t>(b.len, rx_frame_len_ - off);
      std::memcpy(b.host, rx_frame_.data() + off, n);
      off += n;
    }
    rx.push_used(chain->head, static_cast<uint32_t>(rx_frame_len_));
    ++rx_frames_;
    rx_bytes_ += rx_frame_len_ - kHeaderSize;
    rx_frame_len_ = 0;
  }
  interrupt |= used && rx.should_interrupt();
}

NetCounters VirtioNet::counters() const {
  NetCounters c;
  c.tx_frames = tx_frames_, c.tx_bytes = tx_bytes_, c.tx_dropped = tx_dropped_, c.tx_throttled = tx_throttled_;
  c.rx_frames = rx_frames_, c.rx_bytes = rx_bytes_, c.rx_dropped = rx_dropped_;
  return c;
}

namespace {

VirtioMmioState decode_net_section(uint32_t version, std::span<const std::byte> bytes, MacAddress* mac) {
  if (version != kSectionVersion)
    throw Error("virtio-net: state section version " + std::to_string(version) + ", this thaw reads " +
                std::to_string(kSectionVersion));
  ByteReader r(bytes, "virtio-net state");
  VirtioMmioState s = get_transport_state(r);
  MacAddress saved;
  for (auto& b : saved) b = r.get<uint8_t>("virtio-net MAC");
  if (!r.at_end()) throw Error("virtio-net state: trailing bytes");
  if (mac) *mac = saved;
  return s;
}

}  // namespace

std::vector<std::byte> VirtioNet::save_section() {
  ByteWriter w;
  put_transport_state(w, transport_state());
  for (uint8_t b : mac_) w.put(b);
  return w.take();
}

void VirtioNet::restore_section(uint32_t version, std::span<const std::byte> bytes) {
  MacAddress mac;
  VirtioMmioState s = decode_net_section(version, bytes, &mac);
  restore_transport_state(std::move(s));
  std::lock_guard lock(mutex());
  mac_ = mac;
  rx_frame_len_ = 0;
}

std::vector<std::pair<uint64_t, uint64_t>> VirtioNet::ring_ranges(std::span<const std::byte> section) {
  return vmm::ring_ranges(decode_net_section(kSectionVersion, section, nullptr));
}

}  // namespace thaw::vmm
