#pragma once
// What the engine and a VMM process (thaw-vmm, one per sandbox) say to each other over their
// socketpair. Frames are the channel's (channel/frame.h: checksummed header,
// JSON meta, raw data) with message types of their own, above the guest channel's range. The
// engine sends one request at a time and waits for its result; the VMM process sends log and
// console lines as they come. Every field a message needs is checked when it is decoded: a
// missing one is a ProtocolError, never a default.
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/sandbox.h"
#include "channel/frame.h"

namespace thaw::engine::vmm_protocol {

enum class Op : uint16_t {
  // engine -> VMM process
  kColdStart = 101,   // meta: options, image_dir
  kRestore = 102,     // meta: options, snapshot_dir
  kInvoke = 103,      // meta: request; data: payload
  kCheckpoint = 104,  // meta: snapshot_dir, image_dir, chunk_store
  kShutdown = 105,    // SHUTDOWN, then the process exits
  // VMM process -> engine
  kStarted = 110,     // the sandbox is up (cold start or restore done); meta: received_ns (when the
                      // request arrived, CLOCK_MONOTONIC)
  kInvokeResult = 111,  // meta: result (without body); data: body
  kCheckpointDone = 112,  // meta: info
  kFailed = 113,      // meta: error_type, message, kind ("sandbox" | "error"); data: the runtime's body
  kShutdownDone = 114,
  kReady = 115,       // a spare (thaw-vmm --spare) is serving: sent once, before any request;
                      // meta: vm_made_ahead (it holds a VM for its sandbox, vmm/vm_shell.h)
  kLog = 120,         // data: a function log line
  kConsole = 121,     // data: a guest console line
};

inline constexpr uint16_t kFirstOp = 101, kLastOp = 121;
// A decoder for this protocol's frames.
inline channel::Decoder decoder() { return channel::Decoder(kFirstOp, kLastOp); }

// Reads from `fd` (a stream) into `decoder` until it holds a whole message, and returns it;
// bytes after it stay in the decoder. nullopt when the peer closes, a read fails, or `deadline`
// passes first. Throws channel::ProtocolError for bytes that are not this protocol's frames.
std::optional<channel::Message> read_message(int fd, channel::Decoder& decoder, std::chrono::milliseconds deadline);

channel::Message message(Op op, nlohmann::json meta = nlohmann::json::object(), std::string data = {});
inline Op op_of(const channel::Message& m) { return static_cast<Op>(m.type); }

// The fds a VMM process starts with besides stdio: its socket to the engine, and the TAP of
// its sandbox's network card when it has one.
inline constexpr int kSocketFd = 3;
inline constexpr int kTapFd = 4;
// A restore's shared image (SandboxOptions::shared_image), when it has one.
inline constexpr int kImageDataFd = 5;
inline constexpr int kImageIndexFd = 6;

// The options a VMM process needs (its callbacks become kLog / kConsole messages; a network
// card's TAP is kTapFd there, and a shared image kImageDataFd and kImageIndexFd, whatever their
// fds in the engine).
nlohmann::json encode_options(const SandboxOptions& o);
SandboxOptions decode_options(const nlohmann::json& j);

nlohmann::json encode_request(const InvokeRequest& r);  // without the payload (it is the data)
InvokeRequest decode_request(const nlohmann::json& j, std::string payload);
nlohmann::json encode_result(const InvokeResult& r);  // without the body (it is the data)
InvokeResult decode_result(const nlohmann::json& j, std::string body);
// kStarted's received_ns. Throws channel::ProtocolError when it is missing.
std::chrono::steady_clock::time_point started_received_at(const channel::Message& started);
// A restore's phases (thaw::InvokeReport::restore_phases) as [{"name": ..., "ms": ...}, ...].
nlohmann::json encode_phases(std::span<const RestorePhase> phases);
std::vector<RestorePhase> decode_phases(const nlohmann::json& j);
nlohmann::json encode_snapshot_info(const SnapshotInfo& i);
SnapshotInfo decode_snapshot_info(const nlohmann::json& j);

}  // namespace thaw::engine::vmm_protocol
