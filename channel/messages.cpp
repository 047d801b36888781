#include "channel/messages.h"

#include <limits>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

namespace thaw::channel {
namespace {

// Writes a message's fields into a frame; the bytes field is moved, not copied.
struct FrameWriter {
  Message& frame;
  template <class T>
  void operator()(const char* key, T& value) {
    frame.meta[key] = value;
  }
  void bytes(std::string& value) { frame.data = std::move(value); }
};

// Reads a message's fields out of a frame, refusing what is missing or mistyped.
struct FrameReader {
  Message& frame;

  [[noreturn]] void fail(const char* key, const char* what) const {
    throw ProtocolError("channel: " + std::string(message_type_name(frame.type)) + " message: field \"" + key +
                        "\" " + what);
  }
  const nlohmann::json& at(const char* key) const {
    auto it = frame.meta.find(key);
    if (it == frame.meta.end()) fail(key, "is missing");
    return *it;
  }

  void operator()(const char* key, std::string& out) {
    const auto& j = at(key);
    if (!j.is_string()) fail(key, "is not a string");
    out = j.get<std::string>();
  }
  void operator()(const char* key, bool& out) {
    const auto& j = at(key);
    if (!j.is_boolean()) fail(key, "is not a boolean");
    out = j.get<bool>();
  }
  void operator()(const char* key, double& out) {
    const auto& j = at(key);
    if (!j.is_number()) fail(key, "is not a number");
    out = j.get<double>();
  }
  template <class Int>
    requires std::is_integral_v<Int>
  void operator()(const char* key, Int& out) {
    const auto& j = at(key);
    if (!j.is_number_integer()) fail(key, "is not an integer");
    if (j.is_number_unsigned()) {
      auto v = j.get<uint64_t>();
      if (v > uint64_t(std::numeric_limits<Int>::max())) fail(key, "is out of range");
      out = static_cast<Int>(v);
    } else {
      auto v = j.get<int64_t>();
      if (v < int64_t(std::numeric_limits<Int>::min()) ||
          (v > 0 && uint64_t(v) > uint64_t(std::numeric_limits<Int>::max())))
        fail(key, "is out of range");
      out = static_cast<Int>(v);
    }
  }
  void operator()(const char* key, std::map<std::string, std::string>& out) {
    const auto& j = at(key);
    if (!j.is_object()) fail(key, "is not an object");
    out.clear();
    for (const auto& [k, v] : j.items()) {
      if (!v.is_string()) fail(key, "has a value that is not a string");
      out.emplace(k, v.get<std::string>());
    }
  }
  void bytes(std::string& out) { out = std::move(frame.data); }
};

template <class T>
T decode_as(Message& frame) {
  T m;
  FrameReader reader{frame};
  T::fields(m, reader);
  return m;
}

// The alternative of Variant whose kType is the frame's type; a ProtocolError if none is.
template <class Variant, size_t I = 0>
Variant decode_variant(Message& frame, const char* side) {
  if constexpr (I == std::variant_size_v<Variant>) {
    throw ProtocolError("channel: a " + std::string(message_type_name(frame.type)) + " message (type " +
                        std::to_string(uint16_t(frame.type)) + ") is not one the " + side + " sends");
  } else {
    using T = std::variant_alternative_t<I, Variant>;
    if (frame.type == T::kType) return decode_as<T>(frame);
    return decode_variant<Variant, I + 1>(frame, side);
  }
}

template <class Variant>
std::string_view variant_name(const Variant& v) {
  return std::visit([](const auto& m) { return message_type_name(std::decay_t<decltype(m)>::kType); }, v);
}

}  // namespace

template <class T>
Message to_frame(T message) {
  Message frame;
  frame.type = T::kType;
  FrameWriter writer{frame};
  T::fields(message, writer);
  return frame;
}

// Every message type of both variants (a type added to one and not here fails to link).
template Message to_frame<Config>(Config);
template Message to_frame<BeforeCheckpoint>(BeforeCheckpoint);
template Message to_frame<AfterRestore>(AfterRestore);
template Message to_frame<Invoke>(Invoke);
template Message to_frame<Shutdown>(Shutdown);
template Message to_frame<AgentReady>(AgentReady);
template Message to_frame<InitDone>(InitDone);
template Message to_frame<InitError>(InitError);
template Message to_frame<CheckpointReady>(CheckpointReady);
template Message to_frame<BeforeCheckpointAck>(BeforeCheckpointAck);
template Message to_frame<RestoreDone>(RestoreDone);
template Message to_frame<RestoreError>(RestoreError);
template Message to_frame<Response>(Response);
template Message to_frame<FunctionError>(FunctionError);
template Message to_frame<Log>(Log);
template Message to_frame<RuntimeExit>(RuntimeExit);

HostMessage decode_host_message(Message frame) { return decode_variant<HostMessage>(frame, "host"); }
GuestMessage decode_guest_message(Message frame) { return decode_variant<GuestMessage>(frame, "guest agent"); }

std::string_view name_of(const HostMessage& m) { return variant_name(m); }
std::string_view name_of(const GuestMessage& m) { return variant_name(m); }

}  // namespace thaw::channel
