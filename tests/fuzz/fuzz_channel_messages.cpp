// libFuzzer: the typed channel decoders must refuse or accept any frame content without
// crashing, and what they accept must encode back to a frame that decodes to the same type.
// Input: one byte of message type, then the meta JSON up to the first NUL, then the data.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "channel/messages.h"

namespace {

template <class Variant>
void check(thaw::channel::Message frame, Variant (*decode)(thaw::channel::Message)) {
  Variant typed;
  try {
    typed = decode(std::move(frame));
  } catch (const thaw::channel::ProtocolError&) {
    return;
  }
  auto again = std::visit([](auto m) { return thaw::channel::to_frame(std::move(m)); }, typed);
  auto back = decode(again);
  if (back.index() != typed.index()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  thaw::channel::Message frame;
  frame.type = static_cast<thaw::channel::MessageType>(data[0] % 20);
  const char* rest = reinterpret_cast<const char*>(data + 1);
  size_t n = size - 1;
  const void* nul = std::memchr(rest, 0, n);
  size_t meta_len = nul ? static_cast<size_t>(static_cast<const char*>(nul) - rest) : n;
  frame.meta = nlohmann::json::parse(rest, rest + meta_len, nullptr, false);
  if (frame.meta.is_discarded() || !frame.meta.is_object()) return 0;
  if (meta_len < n) frame.data.assign(rest + meta_len + 1, n - meta_len - 1);
  check(frame, thaw::channel::decode_host_message);
  check(frame, thaw::channel::decode_guest_message);
  return 0;
}
