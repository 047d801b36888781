#pragma once
// The agent's end of the host-guest channel (/dev/hvc0): turns channel frames into the
// messages the agent acts on, and the agent's news into frames. The wire format is
// runtime-api/'s channel protocol; this file only says what the agent exchanges.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/unique_fd.h"
#include "guest/agent/kernel_log.h"
#include "runtime-api/channel_protocol.h"

namespace thaw::agent {

// Sent once at boot: everything the runtime's environment needs.
struct FunctionSetup {
  std::string function_name;
  std::string function_version = "$LATEST";
  std::string handler;
  uint32_t memory_mb = 128;
  std::string region = "us-east-1";
  std::string initialization_type = "on-demand";  // or "snap-start"
  std::string log_group_name;
  std::string log_stream_name;
  std::string sandbox_id;
  int64_t wall_clock_ns = 0;  // the host's clock when it sent this; the guest's has no RTC to trust
  std::map<std::string, std::string> environment;  // the function's own variables
};

struct Invoke {
  std::string request_id;
  int64_t deadline_ms = 0;  // Unix epoch milliseconds
  std::string function_arn;
  std::string trace_id;
  std::string client_context;
  std::string cognito_identity;
  std::string payload;
};

struct AfterRestore {
  std::string entropy;  // raw bytes; empty: do not reseed (debug)
  bool vmgenid_changed = false;  // the host changed the VM Generation ID and raised its interrupt
  int64_t wall_clock_ns = 0;
  std::string sandbox_id;
  std::string log_stream_name;
};

struct Shutdown {};

using HostMessage = std::variant<FunctionSetup, Invoke, AfterRestore, Shutdown>;

// What the agent saw of the kernel's CRNG right after a restore (the host compares clones).
struct RestoreProbe {
  std::string kernel_random;       // hex of the first bytes the CRNG gave after the hooks
  bool vmgenid_reseeded = false;   // the kernel logged its reseed on the generation id change
  double checkpoint_uptime_ms = 0; // guest monotonic time of the checkpoint's forced reseed
  double probe_uptime_ms = 0;      // and of the probe
};

class HostLink {
 public:
  // `kernel_log` (may be null) is marked at each checkpoint, so that what the kernel logs after
  // a restore can be told from what it logged before.
  explicit HostLink(UniqueFd channel, KernelLog* kernel_log = nullptr);
  int fd() const { return fd_.get(); }

  // Reads what the channel has now and returns the complete messages. Throws thaw::Error on a
  // malformed frame, SystemError on a read error; an end of stream is a thaw::Error too.
  std::vector<HostMessage> read_available();

  void send_agent_ready();
  void send_init_done(double init_ms);
  void send_init_error(const std::string& error_type, const std::string& body);
  // The runtime reached restore/next: the host may snapshot now.
  void send_checkpoint_ready(double init_ms);
  // After-restore work is over (the runtime asked for its next invocation).
  void send_restore_done(double hooks_ms, const RestoreProbe& probe);
  double checkpoint_uptime_ms() const { return checkpoint_uptime_ms_; }
  void send_restore_error(const std::string& error_type, const std::string& body);
  void send_response(const std::string& request_id, const std::string& body, uint64_t max_memory_bytes);
  void send_function_error(const std::string& request_id, const std::string& error_type, const std::string& body,
                           uint64_t max_memory_bytes);
  void send_log(bool is_stderr, const std::string& line);
  void send_runtime_exit(const std::string& description);

 private:
  void write_all(const std::string& bytes);
  void prepare_checkpoint(int64_t min_uptime_ms);
  void send(int type, nlohmann::json meta, std::string data);
  UniqueFd fd_;
  KernelLog* kernel_log_ = nullptr;
  double checkpoint_uptime_ms_ = 0;
  uint32_t sequence_ = 0;
  channel::Decoder decoder_;
};

}  // namespace thaw::agent
