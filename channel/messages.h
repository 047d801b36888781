#pragma once
// What the host and the guest agent say to each other: one struct per message type, the only
// definition of that message's shape, used by both ends. Each struct lists its fields once, in
// `fields(message, visitor)`: the encoder and the decoder (messages.cpp) are both driven by that
// list, so they cannot disagree. A field is a key of the frame's JSON meta; at most one field
// per message is raw bytes (`v.bytes(...)`), carried as the frame's data, never JSON-escaped.
//
// Decoding is strict: a missing field or one of the wrong JSON type is a ProtocolError (a guest
// that sends half a message is broken, not defaulted); keys the struct does not list are
// ignored, so a newer sender may add fields. Message sequence numbers are the sender's business.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>

#include "channel/frame.h"

namespace thaw::channel {

// ---- host -> guest -------------------------------------------------------------------------

// Sent once, after agent-ready: everything the runtime's environment needs.
struct Config {
  static constexpr MessageType kType = MessageType::kConfig;
  std::string function_name{};
  std::string function_version{};
  std::string handler{};
  uint32_t memory_mb = 0;
  std::string region{};
  std::string initialization_type{};  // "on-demand" or "snap-start"
  std::string log_group_name{};
  std::string log_stream_name{};
  std::string sandbox_id{};
  int64_t wall_clock_ns = 0;  // the host's clock when it sent this; the guest has no RTC to trust
  std::map<std::string, std::string> environment{};  // the function's own variables
  // The guest's network card, when its sandbox has one: eth0's address and prefix and the
  // default gateway (dotted text). Empty address: no network.
  std::string net_address{};
  uint32_t net_prefix = 0;
  std::string net_gateway{};
  static void fields(auto& m, auto& v) {
    v("function_name", m.function_name);
    v("function_version", m.function_version);
    v("handler", m.handler);
    v("memory_mb", m.memory_mb);
    v("region", m.region);
    v("initialization_type", m.initialization_type);
    v("log_group_name", m.log_group_name);
    v("log_stream_name", m.log_stream_name);
    v("sandbox_id", m.sandbox_id);
    v("clock_ns", m.wall_clock_ns);
    v("environment", m.environment);
    v("net_address", m.net_address);
    v("net_prefix", m.net_prefix);
    v("net_gateway", m.net_gateway);
  }
};

// The host is about to pause and snapshot the guest (only after checkpoint-ready). The agent
// quiesces, waits until its uptime is at least min_uptime_ms, and acknowledges.
struct BeforeCheckpoint {
  static constexpr MessageType kType = MessageType::kBeforeCheckpoint;
  int64_t min_uptime_ms = 0;
  static void fields(auto& m, auto& v) { v("min_uptime_ms", m.min_uptime_ms); }
};

// The first message a restored clone gets: what makes it unique and fresh.
struct AfterRestore {
  static constexpr MessageType kType = MessageType::kAfterRestore;
  int64_t wall_clock_ns = 0;
  std::string sandbox_id{};
  std::string log_stream_name{};
  bool vmgenid_changed = false;  // the host changed the VM Generation ID and raised its interrupt
  std::string entropy{};           // raw bytes for the kernel's CRNG; empty: do not reseed (debug)
  static void fields(auto& m, auto& v) {
    v("clock_ns", m.wall_clock_ns);
    v("sandbox_id", m.sandbox_id);
    v("log_stream_name", m.log_stream_name);
    v("vmgenid_changed", m.vmgenid_changed);
    v.bytes(m.entropy);
  }
};

// One invocation. The deadline travels as time left, not as the host's clock: a restored
// guest's clock is not the host's, and the runtime compares the deadline with the guest's.
struct Invoke {
  static constexpr MessageType kType = MessageType::kInvoke;
  std::string request_id{};
  int64_t time_left_ms = 0;
  std::string function_arn{};
  std::string trace_id{};
  std::string client_context{};
  std::string cognito_identity{};
  std::string tenant_id{};  // Lambda's tenant isolation: the invoke's tenant, or empty
  std::string payload{};
  static void fields(auto& m, auto& v) {
    v("request_id", m.request_id);
    v("time_left_ms", m.time_left_ms);
    v("function_arn", m.function_arn);
    v("trace_id", m.trace_id);
    v("client_context", m.client_context);
    v("cognito_identity", m.cognito_identity);
    v("tenant_id", m.tenant_id);
    v.bytes(m.payload);
  }
};

// SIGTERM the runtime, give it 2 s, then power off.
struct Shutdown {
  static constexpr MessageType kType = MessageType::kShutdown;
  static void fields(auto&, auto&) {}
};

// ---- guest -> host -------------------------------------------------------------------------

// The agent is up and its end of the channel is open and raw. The host sends nothing before it:
// bytes that reach the guest before the port is opened and switched to raw mode would be
// line-edited or echoed by its tty.
struct AgentReady {
  static constexpr MessageType kType = MessageType::kAgentReady;
  static void fields(auto&, auto&) {}
};

// The runtime asked for its first invocation.
struct InitDone {
  static constexpr MessageType kType = MessageType::kInitDone;
  double init_ms = 0;
  static void fields(auto& m, auto& v) { v("init_ms", m.init_ms); }
};

struct InitError {
  static constexpr MessageType kType = MessageType::kInitError;
  std::string error_type{};
  std::string body{};  // the runtime's error JSON
  static void fields(auto& m, auto& v) {
    v("error_type", m.error_type);
    v.bytes(m.body);
  }
};

// A snap-start runtime reached restore/next: the host may snapshot now.
struct CheckpointReady {
  static constexpr MessageType kType = MessageType::kCheckpointReady;
  double init_ms = 0;
  static void fields(auto& m, auto& v) { v("init_ms", m.init_ms); }
};

struct BeforeCheckpointAck {
  static constexpr MessageType kType = MessageType::kBeforeCheckpointAck;
  static void fields(auto&, auto&) {}
};

// The runtime's after-restore hooks are done (it asked for its next invocation), with what
// the agent saw of the kernel's CRNG right after the restore (the host compares clones).
struct RestoreDone {
  static constexpr MessageType kType = MessageType::kRestoreDone;
  double hooks_ms = 0;
  std::string kernel_random{};        // hex of the first bytes the CRNG gave after the hooks
  bool vmgenid_reseeded = false;    // the kernel logged its reseed on the generation id change
  double checkpoint_uptime_ms = 0;  // guest monotonic time of the checkpoint's forced reseed
  double probe_uptime_ms = 0;       // and of the probe
  static void fields(auto& m, auto& v) {
    v("hooks_ms", m.hooks_ms);
    v("kernel_random", m.kernel_random);
    v("vmgenid_reseeded", m.vmgenid_reseeded);
    v("checkpoint_uptime_ms", m.checkpoint_uptime_ms);
    v("probe_uptime_ms", m.probe_uptime_ms);
  }
};

struct RestoreError {
  static constexpr MessageType kType = MessageType::kRestoreError;
  std::string error_type{};
  std::string body{};
  static void fields(auto& m, auto& v) {
    v("error_type", m.error_type);
    v.bytes(m.body);
  }
};

struct Response {
  static constexpr MessageType kType = MessageType::kResponse;
  std::string request_id{};
  uint64_t max_memory_bytes = 0;
  std::string body{};
  static void fields(auto& m, auto& v) {
    v("request_id", m.request_id);
    v("max_memory", m.max_memory_bytes);
    v.bytes(m.body);
  }
};

struct FunctionError {
  static constexpr MessageType kType = MessageType::kFunctionError;
  std::string request_id{};
  std::string error_type{};
  uint64_t max_memory_bytes = 0;
  std::string body{};  // the runtime's error JSON
  static void fields(auto& m, auto& v) {
    v("request_id", m.request_id);
    v("error_type", m.error_type);
    v("max_memory", m.max_memory_bytes);
    v.bytes(m.body);
  }
};

// One line of the runtime's output.
struct Log {
  static constexpr MessageType kType = MessageType::kLog;
  bool is_stderr = false;
  std::string line{};
  static void fields(auto& m, auto& v) {
    v("stderr", m.is_stderr);
    v.bytes(m.line);
  }
};

// The runtime process ended (status: how, in words).
struct RuntimeExit {
  static constexpr MessageType kType = MessageType::kRuntimeExit;
  std::string status{};
  static void fields(auto& m, auto& v) { v("status", m.status); }
};

using HostMessage = std::variant<Config, BeforeCheckpoint, AfterRestore, Invoke, Shutdown>;
using GuestMessage = std::variant<AgentReady, InitDone, InitError, CheckpointReady, BeforeCheckpointAck, RestoreDone,
                                  RestoreError, Response, FunctionError, Log, RuntimeExit>;

// The frame of one message (sequence 0: the sender numbers its frames). Taken by value: a
// payload moved in is not copied. The frame size limit is encode()'s to check.
template <class T>
Message to_frame(T message);

// The typed message of a frame. Throws ProtocolError for a type that the other end does not
// send, a missing field or a field of the wrong type.
HostMessage decode_host_message(Message frame);
GuestMessage decode_guest_message(Message frame);

std::string_view name_of(const HostMessage& m);
std::string_view name_of(const GuestMessage& m);

}  // namespace thaw::channel
