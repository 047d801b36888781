#include "engine/vmm/devices/virtio_console.h"

#include <poll.h>
#include <unistd.h>

#include <cstring>

#include "base/byte_codec.h"
#include "base/error.h"
#include "base/log.h"
#include "engine/vmm/devices/event_fd.h"

namespace thaw::vmm {
namespace {

constexpr size_t kReceiveQueue = 0, kTransmitQueue = 1;

}  // namespace

VirtioConsole::VirtioConsole(GuestMemoryView memory, std::function<void()> interrupt)
    : VirtioMmioDevice(std::move(memory), 2, std::move(interrupt)), notify_fd_(make_eventfd("virtio-console")), wake_fd_(make_eventfd("virtio-console")) {}

VirtioConsole::~VirtioConsole() { stop(); }

void VirtioConsole::start() {
  if (worker_.joinable()) return;
  stopping_ = false;
  worker_ = std::thread([this] { run_worker(); });
}

void VirtioConsole::stop() {
  if (!worker_.joinable()) return;
  stopping_ = true;
  wake();
  worker_.join();
}

void VirtioConsole::wake() { signal_eventfd(wake_fd_.get()); }

void VirtioConsole::run_worker() {
  pollfd fds[2] = {{notify_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
  while (!stopping_) {
    int r = ::poll(fds, 2, -1);
    if (r < 0 && errno != EINTR) {
      spdlog::error("virtio-console: poll: {}", std::strerror(errno));
      return;
    }
    drain_eventfd(notify_fd_.get());
    drain_eventfd(wake_fd_.get());
    if (stopping_) break;
    process();
  }
}

std::vector<uint8_t> VirtioConsole::pending_bytes() {
  std::lock_guard lock(pending_mu_);
  return {pending_.begin() + static_cast<ptrdiff_t>(pending_off_), pending_.end()};
}

void VirtioConsole::restore_pending_bytes(std::vector<uint8_t> bytes) {
  std::lock_guard lock(pending_mu_);
  pending_ = std::move(bytes);
  pending_off_ = 0;
}

std::vector<std::byte> VirtioConsole::save_section() {
  ByteWriter w;
  put_transport_state(w, transport_state());
  w.put_vector<uint8_t>(pending_bytes());
  return w.take();
}

namespace {
constexpr uint32_t kConsoleSectionVersion = 1;

VirtioMmioState decode_console_section(uint32_t version, std::span<const std::byte> bytes,
                                       std::vector<uint8_t>* pending) {
  if (version != kConsoleSectionVersion)
    throw Error("virtio-console: state section version " + std::to_string(version) + ", this thaw reads " +
                std::to_string(kConsoleSectionVersion));
  ByteReader r(bytes, "virtio-console state");
  VirtioMmioState s = get_transport_state(r);
  auto bytes_pending = r.get_vector<uint8_t>("console pending bytes", 64 << 20);
  if (!r.at_end()) throw Error("virtio-console state: trailing bytes");
  if (pending) *pending = std::move(bytes_pending);
  return s;
}
}  // namespace

void VirtioConsole::restore_section(uint32_t version, std::span<const std::byte> bytes) {
  std::vector<uint8_t> pending;
  VirtioMmioState s = decode_console_section(version, bytes, &pending);
  restore_transport_state(std::move(s));
  restore_pending_bytes(std::move(pending));
}

std::vector<std::pair<uint64_t, uint64_t>> VirtioConsole::ring_ranges(std::span<const std::byte> section) {
  return vmm::ring_ranges(decode_console_section(kConsoleSectionVersion, section, nullptr));
}

void VirtioConsole::write(std::span<const uint8_t> bytes) {
  {
    std::lock_guard lock(pending_mu_);
    pending_.insert(pending_.end(), bytes.begin(), bytes.end());
  }
  wake();
}

void VirtioConsole::read_config(uint64_t, std::span<uint8_t> data) const {
  std::memset(data.data(), 0, data.size());  // cols, rows, max_nr_ports, emerg_wr: unused
}

void VirtioConsole::process() {
  std::vector<uint8_t> from_guest;
  {
    std::lock_guard lock(mutex());
    if (!driver_ok()) return;
    bool interrupt = false;
    try {
      QueueState& txs = s_.queues[kTransmitQueue];
      if (txs.ready) {
        Virtqueue tx(memory_, txs);
        bool used = false;
        while (auto chain = tx.pop()) {
          for (const DescriptorBuffer& b : chain->buffers)
            if (!b.device_writable && b.len) from_guest.insert(from_guest.end(), reinterpret_cast<uint8_t*>(b.host),
                                                              reinterpret_cast<uint8_t*>(b.host) + b.len);
          tx.push_used(chain->head, 0);
          used = true;
        }
        interrupt |= used && tx.should_interrupt();
      }
      QueueState& rxs = s_.queues[kReceiveQueue];
      if (rxs.ready) {
        Virtqueue rx(memory_, rxs);
        std::lock_guard plock(pending_mu_);
        bool used = false;
        uint64_t sent = 0;
        while (pending_off_ < pending_.size()) {
          auto chain = rx.pop();
          if (!chain) break;
          uint32_t written = 0;
          for (const DescriptorBuffer& b : chain->buffers) {
            if (!b.device_writable) continue;
            size_t n = std::min<size_t>(b.len, pending_.size() - pending_off_);
            std::memcpy(b.host, pending_.data() + pending_off_, n);
            pending_off_ += n;
            written += static_cast<uint32_t>(n);
            if (pending_off_ == pending_.size()) break;
          }
          rx.push_used(chain->head, written);
          sent += written;
          used = true;
        }
        if (pending_off_ == pending_.size()) {
          pending_.clear();
          pending_off_ = 0;
        } else if (pending_off_ > (1u << 20)) {
          pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(pending_off_));
          pending_off_ = 0;
        }
        to_guest_total_ += sent;
        interrupt |= used && rx.should_interrupt();
      }
    } catch (const VirtqueueError& e) {
      fail(e.what());
      interrupt = false;
    }
    if (interrupt) signal_used();
  }
  if (!from_guest.empty()) deliver(from_guest);
}

void VirtioConsole::deliver(std::span<const uint8_t> bytes) {
  from_guest_total_ += bytes.size();
  if (receiver_) {
    receiver_(bytes);
    return;
  }
  {
    std::lock_guard lock(inbox_mu_);
    inbox_.insert(inbox_.end(), bytes.begin(), bytes.end());
  }
  inbox_cv_.notify_all();
}

size_t VirtioConsole::read(std::span<uint8_t> out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(inbox_mu_);
  if (!inbox_cv_.wait_for(lock, timeout, [&] { return !inbox_.empty(); })) return 0;
  size_t n = std::min(out.size(), inbox_.size());
  std::memcpy(out.data(), inbox_.data(), n);
  inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<ptrdiff_t>(n));
  return n;
}

}  // namespace thaw::vmm
