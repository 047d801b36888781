// libFuzzer: the channel frame decoder must reject or accept any byte stream without crashing,
// and anything it accepts must re-encode to the same frame.
#include <cstddef>
#include <cstdint>

#include "channel/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  thaw::channel::Decoder d;
  // Feed in two pieces to exercise partial frames.
  size_t cut = size ? data[0] % (size + 1) : 0;
  try {
    d.feed(std::span(reinterpret_cast<const std::byte*>(data), cut));
    while (auto m = d.next()) (void)thaw::channel::encode(*m);
    d.feed(std::span(reinterpret_cast<const std::byte*>(data) + cut, size - cut));
    while (auto m = d.next()) {
      std::string again = thaw::channel::encode(*m);
      thaw::channel::Decoder d2;
      d2.feed(again);
      auto back = d2.next();
      if (!back || back->data != m->data || back->meta != m->meta) __builtin_trap();
    }
  } catch (const thaw::channel::ProtocolError&) {
  }
  return 0;
}
