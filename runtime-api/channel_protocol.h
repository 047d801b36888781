#pragma once
// The host<->guest channel protocol (DESIGN.md, "Host-guest channel"), spoken over the
// virtio-console byte stream (/dev/hvc0 in the guest). Both ends (the guest agent and the
// engine's sandbox) use this file; it knows nothing of either.
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
  kConfig = 1,            // host -> guest: function setup (meta)
  kInitDone = 2,          // guest -> host: runtime asked for its first invocation (meta: init_ms)
  kInitError = 3,         // guest -> host: meta: error_type; data: the runtime's error JSON
  kCheckpointReady = 4,   // guest -> host: snap-start runtime reached restore/next (meta: init_ms)
  kBeforeCheckpoint = 5,  // host -> guest: about to snapshot; the agent quiesces
  kBeforeCheckpointAck = 6,
  kAfterRestore = 7,      // host -> guest: meta: clock_ns, sandbox_id, log_stream; data: entropy
  kRestoreDone = 8,       // guest -> host: runtime's after-restore hooks done (meta: hooks_ms)
  kRestoreError = 9,      // guest -> host: meta: error_type; data: error JSON
  kInvoke = 10,           // host -> guest: meta: request_id, deadline_ms, ...; data: payload
  kResponse = 11,         // guest -> host: meta: request_id, max_memory; data: response body
  kFunctionError = 12,    // guest -> host: meta: request_id, error_type, max_memory; data: error JSON
  kLog = 13,              // guest -> host: meta: stream ("stdout"|"stderr"); data: one line
  kRuntimeExit = 14,      // guest -> host: meta: status (the runtime process ended)
  kShutdown = 15,         // host -> guest: SIGTERM the runtime, 2 s, then power off
  // guest -> host: the agent is up and its end of the channel is open and raw. The host sends
  // nothing before it: bytes that reach the guest before the port is opened and switched to
  // raw mode would be line-edited or echoed by its tty.
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
