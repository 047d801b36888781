#include "engine/vmm/devices/serial.h"

#include "base/byte_codec.h"

namespace thaw::vmm {
namespace {

constexpr uint8_t kIerRda = 0x01, kIerThre = 0x02;
constexpr uint8_t kIirNone = 0x01, kIirThre = 0x02, kIirRda = 0x04, kIirFifo = 0xc0;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kLsrDr = 0x01, kLsrThre = 0x20, kLsrTemt = 0x40;

}  // namespace

uint8_t Serial::iir_locked() {
  uint8_t fifo = s_.fifo_enabled ? kIirFifo : 0;
  if ((s_.ier & kIerRda) && !s_.rx.empty()) return kIirRda | fifo;
  if ((s_.ier & kIerThre) && s_.thre_interrupt_pending) return kIirThre | fifo;
  return kIirNone | fifo;
}

void Serial::read(uint64_t offset, std::span<uint8_t> data) {
  if (data.empty()) return;
  std::lock_guard lock(mu_);
  uint8_t v = 0;
  switch (offset) {
    case 0:
      if (s_.lcr & kLcrDlab) {
        v = s_.dll;
      } else if (!s_.rx.empty()) {
        v = s_.rx.front();
        s_.rx.pop_front();
      }
      break;
    case 1:
      v = (s_.lcr & kLcrDlab) ? s_.dlh : s_.ier;
      break;
    case 2:
      v = iir_locked();
      if ((v & 0x0f) == kIirThre) s_.thre_interrupt_pending = false;  // reading IIR clears THRE
      break;
    case 3:
      v = s_.lcr;
      break;
    case 4:
      v = s_.mcr;
      break;
    case 5:
      v = kLsrThre | kLsrTemt | (s_.rx.empty() ? 0 : kLsrDr);
      break;
    case 6:
      if (s_.mcr & kMcrLoop) {  // outputs wired back to inputs: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD
        v = static_cast<uint8_t>(((s_.mcr & 0x01) << 5) | ((s_.mcr & 0x02) << 3) | ((s_.mcr & 0x04) << 4) |
                                 ((s_.mcr & 0x08) << 4));
      } else {
        v = 0xb0;  // DCD, DSR, CTS
      }
      break;
    case 7:
      v = s_.scr;
      break;
    default:
      break;
  }
  data[0] = v;
  for (size_t i = 1; i < data.size(); ++i) data[i] = 0;
}

void Serial::write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty()) return;
  uint8_t v = data[0];
  bool raise = false;
  int out = -1;
  {
    std::lock_guard lock(mu_);
    switch (offset) {
      case 0:
        if (s_.lcr & kLcrDlab) {
          s_.dll = v;
        } else if (s_.mcr & kMcrLoop) {
          s_.rx.push_back(v);
          raise = s_.ier & kIerRda;
        } else {
          out = v;
          s_.thre_interrupt_pending = true;
          raise = s_.ier & kIerThre;
        }
        break;
      case 1:
        if (s_.lcr & kLcrDlab) {
          s_.dlh = v;
        } else {
          bool thre_enabled = !(s_.ier & kIerThre) && (v & kIerThre);
          s_.ier = v & 0x0f;
          if (thre_enabled) {
            s_.thre_interrupt_pending = true;
            raise = true;
          }
          if ((s_.ier & kIerRda) && !s_.rx.empty()) raise = true;
        }
        break;
      case 2:
        s_.fifo_enabled = v & 0x01;
        if (v & 0x02) s_.rx.clear();
        break;
      case 3:
        s_.lcr = v;
        break;
      case 4:
        s_.mcr = v & 0x1f;
        break;
      case 7:
        s_.scr = v;
        break;
      default:
        break;
    }
  }
  if (out >= 0) output_(static_cast<uint8_t>(out));
  if (raise) interrupt_();
}

void Serial::enqueue_input(std::span<const uint8_t> bytes) {
  bool raise;
  {
    std::lock_guard lock(mu_);
    s_.rx.insert(s_.rx.end(), bytes.begin(), bytes.end());
    raise = (s_.ier & kIerRda) && !bytes.empty();
  }
  if (raise) interrupt_();
}

std::vector<std::byte> Serial::save_section() {
  SerialState s = state();
  ByteWriter w;
  w.put(s.ier), w.put(s.lcr), w.put(s.mcr), w.put(s.scr), w.put(s.dll), w.put(s.dlh);
  w.put(uint8_t{s.fifo_enabled}), w.put(uint8_t{s.thre_interrupt_pending});
  std::vector<uint8_t> rx(s.rx.begin(), s.rx.end());
  w.put_vector<uint8_t>(rx);
  return w.take();
}

void Serial::restore_section(uint32_t version, std::span<const std::byte> bytes) {
  if (version != 1) throw Error("serial: state section version " + std::to_string(version) + ", this thaw reads 1");
  ByteReader r(bytes, "serial state");
  SerialState s;
  s.ier = r.get<uint8_t>("ier"), s.lcr = r.get<uint8_t>("lcr"), s.mcr = r.get<uint8_t>("mcr");
  s.scr = r.get<uint8_t>("scr"), s.dll = r.get<uint8_t>("dll"), s.dlh = r.get<uint8_t>("dlh");
  s.fifo_enabled = r.get<uint8_t>("fifo") != 0;
  s.thre_interrupt_pending = r.get<uint8_t>("thre") != 0;
  auto rx = r.get_vector<uint8_t>("input", 1 << 20);
  s.rx.assign(rx.begin(), rx.end());
  if (!r.at_end()) throw Error("serial state: trailing bytes");
  restore_state(std::move(s));
}

}  // namespace thaw::vmm
