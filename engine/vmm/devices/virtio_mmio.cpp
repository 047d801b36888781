#include "engine/vmm/devices/virtio_mmio.h"

#include <cstring>

#include "base/byte_codec.h"
#include "base/log.h"

namespace thaw::vmm {
namespace {

constexpr uint32_t kMagic = 0x74726976;  // "virt"
constexpr uint32_t kVendor = 0x57414854;  // "THAW"

}  // namespace

VirtioMmioDevice::VirtioMmioDevice(GuestMemoryView memory, uint16_t num_queues, std::function<void()> interrupt)
    : memory_(std::move(memory)), interrupt_(std::move(interrupt)) {
  s_.queues.resize(num_queues);
}

QueueState* VirtioMmioDevice::selected_queue() {
  return s_.queue_sel < s_.queues.size() ? &s_.queues[s_.queue_sel] : nullptr;
}

void VirtioMmioDevice::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  if (offset >= 0x100) {
    read_config(offset - 0x100, data);
    return;
  }
  uint32_t v = 0;
  QueueState* q = selected_queue();
  switch (offset) {
    case 0x000: v = kMagic; break;
    case 0x004: v = 2; break;
    case 0x008: v = device_id(); break;
    case 0x00c: v = kVendor; break;
    case 0x010: {
      uint64_t f = device_features() | kVirtioFVersion1;
      v = s_.device_features_sel == 0 ? uint32_t(f) : s_.device_features_sel == 1 ? uint32_t(f >> 32) : 0;
      break;
    }
    case 0x034: v = q ? kVirtioMaxQueueSize : 0; break;
    case 0x044: v = q && q->ready; break;
    case 0x060: v = s_.interrupt_status; break;
    case 0x070: v = s_.status; break;
    case 0x0fc: v = s_.config_generation; break;
    default: v = 0; break;
  }
  std::memset(data.data(), 0, data.size());
  std::memcpy(data.data(), &v, std::min<size_t>(4, data.size()));
}

void VirtioMmioDevice::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  if (offset >= 0x100) return;  // the console's config space is read-only
  if (data.size() != 4) return;
  uint32_t v;
  std::memcpy(&v, data.data(), 4);
  QueueState* q = selected_queue();
  auto set_low = [](uint64_t& x, uint32_t lo) { x = (x & ~0xffffffffull) | lo; };
  auto set_high = [](uint64_t& x, uint32_t hi) { x = (x & 0xffffffffull) | (uint64_t(hi) << 32); };
  bool queue_writable = q && !q->ready;
  switch (offset) {
    case 0x014: s_.device_features_sel = v; break;
    case 0x020:
      if (s_.driver_features_sel == 0) set_low(s_.driver_features, v);
      else if (s_.driver_features_sel == 1) set_high(s_.driver_features, v);
      break;
    case 0x024: s_.driver_features_sel = v; break;
    case 0x030: s_.queue_sel = v; break;
    case 0x038: if (queue_writable) q->size = static_cast<uint16_t>(std::min<uint32_t>(v, 0xffff)); break;
    case 0x044:
      if (!q) break;
      if (v == 1 && !q->ready) {
        try {
          validate_queue(memory_, *q, kVirtioMaxQueueSize);
          q->ready = true;
        } catch (const VirtqueueError& e) {
          fail(e.what());
        }
      } else if (v == 0) {
        q->ready = false;
      }
      break;
    case 0x050: on_queue_notify(); break;
    case 0x064: s_.interrupt_status &= ~v; break;
    case 0x070: {
      if (v == 0) {
        on_reset();
        size_t n = s_.queues.size();
        s_ = VirtioMmioState{};
        s_.queues.resize(n);
        break;
      }
      uint32_t added = v & ~s_.status;
      if (added & kVirtioStatusFeaturesOk) {
        uint64_t offered = device_features() | kVirtioFVersion1;
        if ((s_.driver_features & ~offered) || !(s_.driver_features & kVirtioFVersion1)) v &= ~kVirtioStatusFeaturesOk;
      }
      s_.status = v | (s_.status & kVirtioStatusNeedsReset);
      if ((added & kVirtioStatusDriverOk) && !s_.broken) on_driver_ok();
      break;
    }
    case 0x080: if (queue_writable) set_low(q->desc_addr, v); break;
    case 0x084: if (queue_writable) set_high(q->desc_addr, v); break;
    case 0x090: if (queue_writable) set_low(q->avail_addr, v); break;
    case 0x094: if (queue_writable) set_high(q->avail_addr, v); break;
    case 0x0a0: if (queue_writable) set_low(q->used_addr, v); break;
    case 0x0a4: if (queue_writable) set_high(q->used_addr, v); break;
    default: break;
  }
}

void VirtioMmioDevice::signal_used() {
  s_.interrupt_status |= 1;
  interrupt_();
}

void VirtioMmioDevice::fail(const std::string& reason) {
  if (s_.broken) return;
  spdlog::warn("virtio device {}: {}; device needs reset", device_id(), reason);
  s_.broken = true;
  s_.status |= kVirtioStatusNeedsReset;
  s_.interrupt_status |= 2;  // configuration change: the driver reads status and sees NEEDS_RESET
  interrupt_();
}

}  // namespace thaw::vmm

namespace thaw::vmm {

VirtioMmioState VirtioMmioDevice::transport_state() {
  std::lock_guard lock(mu_);
  return s_;
}

void VirtioMmioDevice::restore_transport_state(VirtioMmioState state) {
  std::lock_guard lock(mu_);
  if (state.queues.size() != s_.queues.size()) {
    fail("the saved state has " + std::to_string(state.queues.size()) + " queues, the device " +
         std::to_string(s_.queues.size()));
    return;
  }
  s_ = std::move(state);
  for (auto& q : s_.queues) {
    if (!q.ready) continue;
    try {
      validate_queue(memory_, q, kVirtioMaxQueueSize);
    } catch (const VirtqueueError& e) {
      q.ready = false;
      fail(std::string("restored queue: ") + e.what());
    }
  }
}

void put_transport_state(ByteWriter& w, const VirtioMmioState& s) {
  w.put(s.status), w.put(s.device_features_sel), w.put(s.driver_features_sel), w.put(s.driver_features);
  w.put(s.queue_sel), w.put(s.interrupt_status), w.put(s.config_generation), w.put(uint8_t{s.broken});
  w.put_vector<QueueState>(s.queues);
}

VirtioMmioState get_transport_state(ByteReader& r) {
  VirtioMmioState s;
  s.status = r.get<uint32_t>("virtio status");
  s.device_features_sel = r.get<uint32_t>("virtio features");
  s.driver_features_sel = r.get<uint32_t>("virtio features");
  s.driver_features = r.get<uint64_t>("virtio features");
  s.queue_sel = r.get<uint32_t>("virtio queue_sel");
  s.interrupt_status = r.get<uint32_t>("virtio interrupt status");
  s.config_generation = r.get<uint32_t>("virtio config generation");
  s.broken = r.get<uint8_t>("virtio") != 0;
  s.queues = r.get_vector<QueueState>("virtio queues", 64);
  return s;
}

std::vector<std::pair<uint64_t, uint64_t>> ring_ranges(const VirtioMmioState& s) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const auto& q : s.queues) {
    if (!q.ready) continue;
    out.emplace_back(q.desc_addr, 16ull * q.size);
    out.emplace_back(q.avail_addr, 6 + 2ull * q.size);
    out.emplace_back(q.used_addr, 6 + 8ull * q.size);
  }
  return out;
}

}  // namespace thaw::vmm
