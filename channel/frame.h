#pragma once
// The host<->guest channel's frames (DESIGN.md, "Host-guest channel"), spoken over the
// virtio-console byte stream (/dev/hvc0 in the guest). Both ends (the guest agent and the
// engine's sandbox) use this file; it knows nothing of either. What each type of frame
// carries is channel/messages.h; the engine's protocol with its VMM processes reuses the
// framing with a type range of its own.
//
// A frame is a 24-byte little-endian header and a body:
//   magic "THW1" | type u16 | flags u16 | sequence u32 | body length u32 | body xxh32 u32 | header xxh32 u32
// The header checksum covers the 20 bytes before it, so a corrupt length is caught before it
// is trusted. A body is a small JSON object ("meta") and raw bytes ("data", e.g. an invoke
// payload of up to 6 MiB, never base64-inflated): meta length u32 | meta | data.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace thaw::channel {

enum class MessageType : uint16_t {
  kConfig = 1,
  kInitDone = 2,
  kInitError = 3,
  kCheckpointReady = 4,
  kBeforeCheckpoint = 5,
  kBeforeCheckpointAck = 6,
  kAfterRestore = 7,
  kRestoreDone = 8,
  kRestoreError = 9,
  kInvoke = 10,
  kResponse = 11,
  kFunctionError = 12,
  kLog = 13,
  kRuntimeExit = 14,
  kShutdown = 15,
  kAgentReady = 16,
};
std::string_view message_type_name(MessageType t);

inline constexpr uint32_t kMagic = 0x31574854;  // "THW1"
inline constexpr size_t kHeaderSize = 24;
// 6 MiB payloads each way plus room for the meta JSON.
inline constexpr uint32_t kMaxBodySize = 6 * 1024 * 1024 + 64 * 1024;

struct Message {
  MessageType type{};
  uint32_t sequence = 0;
  nlohmann::json meta = nlohmann::json::object();
  std::string data;
};

// A frame that breaks the protocol: bad magic or checksum, oversize, malformed body.
class ProtocolError : public Error {
 public:
  using Error::Error;
};

// Encodes one frame. Throws ProtocolError if the body would exceed kMaxBodySize.
std::string encode(const Message& m);

// Incremental decoder: feed bytes as they arrive, take whole messages out. After a
// ProtocolError the stream cannot be trusted and the decoder stays failed.
class Decoder {
 public:
  // Frames whose type lies outside [first_type, last_type] are a ProtocolError. The default is
  // the guest channel's MessageType; the engine's protocol with its VMM processes has its own.
  explicit Decoder(uint16_t first_type = 1, uint16_t last_type = uint16_t(MessageType::kAgentReady))
      : first_type_(first_type), last_type_(last_type) {}
  void feed(std::span<const std::byte> bytes);
  void feed(std::string_view bytes) { feed(std::as_bytes(std::span(bytes.data(), bytes.size()))); }
  // The next complete message, if any. Throws ProtocolError on a malformed frame.
  std::optional<Message> next();
  size_t buffered() const { return buffer_.size() - offset_; }

 private:
  uint16_t first_type_, last_type_;
  std::string buffer_;
  size_t offset_ = 0;
  std::optional<std::string> failed_;
};

}  // namespace thaw::channel
