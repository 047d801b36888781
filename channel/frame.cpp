#include "channel/frame.h"

// Inlined xxHash: the guest agent links statically and Debian ships libxxhash as a shared library too.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstring>

namespace thaw::channel {
namespace {

void put32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>(v >> 8));
}
uint32_t get32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
uint16_t get16(const char* p) {
  return uint16_t(static_cast<unsigned char>(p[0]) | (static_cast<unsigned char>(p[1]) << 8));
}

}  // namespace

std::string_view message_type_name(MessageType t) {
  switch (t) {
    case MessageType::kConfig: return "config";
    case MessageType::kInitDone: return "init-done";
    case MessageType::kInitError: return "init-error";
    case MessageType::kCheckpointReady: return "checkpoint-ready";
    case MessageType::kBeforeCheckpoint: return "before-checkpoint";
    case MessageType::kBeforeCheckpointAck: return "before-checkpoint-ack";
    case MessageType::kAfterRestore: return "after-restore";
    case MessageType::kRestoreDone: return "restore-done";
    case MessageType::kRestoreError: return "restore-error";
    case MessageType::kInvoke: return "invoke";
    case MessageType::kResponse: return "response";
    case MessageType::kFunctionError: return "function-error";
    case MessageType::kLog: return "log";
    case MessageType::kRuntimeExit: return "runtime-exit";
    case MessageType::kShutdown: return "shutdown";
    case MessageType::kAgentReady: return "agent-ready";
  }
  return "unknown";
}

std::string encode(const Message& m) {
  std::string meta = m.meta.dump();
  size_t body_size = 4 + meta.size() + m.data.size();
  if (body_size > kMaxBodySize)
    throw ProtocolError("channel: " + std::string(message_type_name(m.type)) + " message of " +
                        std::to_string(body_size) + " bytes exceeds the " + std::to_string(kMaxBodySize) +
                        "-byte frame limit");
  std::string body;
  body.reserve(body_size);
  put32(body, static_cast<uint32_t>(meta.size()));
  body += meta;
  body += m.data;
  std::string out;
  out.reserve(kHeaderSize + body.size());
  put32(out, kMagic);
  put16(out, static_cast<uint16_t>(m.type));
  put16(out, 0);
  put32(out, m.sequence);
  put32(out, static_cast<uint32_t>(body.size()));
  put32(out, XXH32(body.data(), body.size(), 0));
  put32(out, XXH32(out.data(), out.size(), 0));
  out += body;
  return out;
}

void Decoder::feed(std::span<const std::byte> bytes) {
  if (offset_ > 0 && offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  }
  buffer_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::optional<Message> Decoder::next() {
  if (failed_) throw ProtocolError(*failed_);
  auto fail = [&](std::string why) -> ProtocolError {
    failed_ = "channel: malformed frame: " + why;
    return ProtocolError(*failed_);
  };
  if (buffer_.size() - offset_ < kHeaderSize) return std::nullopt;
  const char* h = buffer_.data() + offset_;
  if (get32(h) != kMagic) throw fail("bad magic");
  if (get32(h + 20) != XXH32(h, 20, 0)) throw fail("header checksum mismatch");
  uint32_t length = get32(h + 12);
  if (length > kMaxBodySize)
    throw fail("body of " + std::to_string(length) + " bytes exceeds " + std::to_string(kMaxBodySize));
  if (length < 4) throw fail("body shorter than its meta length field");
  if (buffer_.size() - offset_ < kHeaderSize + length) return std::nullopt;
  const char* body = h + kHeaderSize;
  if (get32(h + 16) != XXH32(body, length, 0)) throw fail("body checksum mismatch");
  uint32_t meta_len = get32(body);
  if (meta_len > length - 4) throw fail("meta length " + std::to_string(meta_len) + " exceeds the body");
  Message m;
  m.type = static_cast<MessageType>(get16(h + 4));
  m.sequence = get32(h + 8);
  uint16_t type = get16(h + 4);
  if (type < first_type_ || type > last_type_) throw fail("unknown message type " + std::to_string(type));
  m.meta = nlohmann::json::parse(body + 4, body + 4 + meta_len, nullptr, false);
  if (m.meta.is_discarded() || !m.meta.is_object()) throw fail("meta is not a JSON object");
  m.data.assign(body + 4 + meta_len, length - 4 - meta_len);
  offset_ += kHeaderSize + length;
  if (offset_ > (1u << 20) && offset_ * 2 > buffer_.size()) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  return m;
}

}  // namespace thaw::channel
