#include "guest/agent/host_link.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>
#include <cstdio>

#include "base/error.h"
#include "restore-hooks/guest_reseed.h"
#include "runtime-api/channel_protocol.h"

namespace thaw::agent {
namespace {

using channel::Message;
using channel::MessageType;

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
int64_t num(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}

HostMessage to_host_message(Message& m) {
  switch (m.type) {
    case MessageType::kConfig: {
      FunctionSetup s;
      s.function_name = str(m.meta, "function_name");
      if (auto v = str(m.meta, "function_version"); !v.empty()) s.function_version = v;
      s.handler = str(m.meta, "handler");
      if (auto mb = num(m.meta, "memory_mb")) s.memory_mb = static_cast<uint32_t>(mb);
      if (auto r = str(m.meta, "region"); !r.empty()) s.region = r;
      if (auto t = str(m.meta, "initialization_type"); !t.empty()) s.initialization_type = t;
      s.log_group_name = str(m.meta, "log_group_name");
      s.log_stream_name = str(m.meta, "log_stream_name");
      s.sandbox_id = str(m.meta, "sandbox_id");
      s.wall_clock_ns = num(m.meta, "clock_ns");
      if (auto it = m.meta.find("environment"); it != m.meta.end() && it->is_object())
        for (auto& [k, v] : it->items())
          if (v.is_string()) s.environment[k] = v.get<std::string>();
      return s;
    }
    case MessageType::kInvoke: {
      Invoke i;
      i.request_id = str(m.meta, "request_id");
      // The host sends the time left, not its clock's deadline: the guest's clock may have drifted
      // from the host's, and the runtime compares the deadline with the guest's clock.
      if (auto left = m.meta.find("time_left_ms"); left != m.meta.end() && left->is_number()) {
        timespec ts{};
        ::clock_gettime(CLOCK_REALTIME, &ts);
        i.deadline_ms = int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000 + left->get<int64_t>();
      } else {
        i.deadline_ms = num(m.meta, "deadline_ms");
      }
      i.function_arn = str(m.meta, "function_arn");
      i.trace_id = str(m.meta, "trace_id");
      i.client_context = str(m.meta, "client_context");
      i.cognito_identity = str(m.meta, "cognito_identity");
      i.payload = std::move(m.data);
      return i;
    }
    case MessageType::kAfterRestore: {
      AfterRestore a;
      a.entropy = std::move(m.data);
      a.wall_clock_ns = num(m.meta, "clock_ns");
      a.sandbox_id = str(m.meta, "sandbox_id");
      a.log_stream_name = str(m.meta, "log_stream_name");
      if (auto it = m.meta.find("vmgenid_changed"); it != m.meta.end() && it->is_boolean()) a.vmgenid_changed = *it;
      return a;
    }
    case MessageType::kShutdown:
      return Shutdown{};
    default:
      throw Error("channel: unexpected " + std::string(channel::message_type_name(m.type)) + " message from the host");
  }
}

double monotonic_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

}  // namespace

HostLink::HostLink(UniqueFd channel, KernelLog* kernel_log) : fd_(std::move(channel)), kernel_log_(kernel_log) {}

// The guest's last moments before the host pauses it. The CRNG is reseeded now, so that every
// clone starts from one CRNG state whose next scheduled reseed is as far off as the kernel
// allows: Linux 6.1 reseeds on the first draw after max(1 s, uptime / 2) in its first two
// minutes (60 s afterwards), so a clone cannot reseed on its own before its uptime is twice
// the checkpoint's. A host that must rule that out for a restore of up to T (the uniqueness
// controls) asks for min_uptime_ms > T and the checkpoint waits until then.
void HostLink::prepare_checkpoint(int64_t min_uptime_ms) {
  double wait = double(min_uptime_ms) - monotonic_ms();
  if (wait > 0) std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(wait * 1000)));
  ::sync();
  try {
    hooks::reseed_kernel_crng_now();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "thaw-agent: %s\n", e.what());
  }
  unsigned char discard[16];
  [[maybe_unused]] ssize_t drawn = ::getrandom(discard, sizeof discard, GRND_NONBLOCK);
  checkpoint_uptime_ms_ = monotonic_ms();
  if (kernel_log_) kernel_log_->mark();
}

std::vector<HostMessage> HostLink::read_available() {
  char buf[1 << 16];
  ssize_t n = ::read(fd_.get(), buf, sizeof buf);
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return {};
    throw_errno("read", "host channel");
  }
  if (n == 0) throw Error("host channel closed");
  decoder_.feed(std::string_view(buf, static_cast<size_t>(n)));
  std::vector<HostMessage> out;
  while (auto m = decoder_.next()) {
    if (m->type == MessageType::kBeforeCheckpoint) {
      prepare_checkpoint(num(m->meta, "min_uptime_ms"));
      Message ack;
      ack.type = MessageType::kBeforeCheckpointAck;
      ack.sequence = ++sequence_;
      write_all(channel::encode(ack));
      continue;
    }
    out.push_back(to_host_message(*m));
  }
  return out;
}

void HostLink::write_all(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd_.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw_errno("write", "host channel");
    }
    done += static_cast<size_t>(n);
  }
}

void HostLink::send(int type, nlohmann::json meta, std::string data) {
  Message m;
  m.type = static_cast<MessageType>(type);
  m.sequence = ++sequence_;
  m.meta = std::move(meta);
  m.data = std::move(data);
  write_all(channel::encode(m));
}

void HostLink::send_agent_ready() { send(int(MessageType::kAgentReady), nlohmann::json::object(), {}); }
void HostLink::send_init_done(double init_ms) { send(int(MessageType::kInitDone), {{"init_ms", init_ms}}, {}); }
void HostLink::send_init_error(const std::string& error_type, const std::string& body) {
  send(int(MessageType::kInitError), {{"error_type", error_type}}, body);
}
void HostLink::send_checkpoint_ready(double init_ms) {
  send(int(MessageType::kCheckpointReady), {{"init_ms", init_ms}}, {});
}
void HostLink::send_restore_done(double hooks_ms, const RestoreProbe& probe) {
  send(int(MessageType::kRestoreDone),
       {{"hooks_ms", hooks_ms},
        {"kernel_random", probe.kernel_random},
        {"vmgenid_reseeded", probe.vmgenid_reseeded},
        {"checkpoint_uptime_ms", probe.checkpoint_uptime_ms},
        {"probe_uptime_ms", probe.probe_uptime_ms}},
       {});
}
void HostLink::send_restore_error(const std::string& error_type, const std::string& body) {
  send(int(MessageType::kRestoreError), {{"error_type", error_type}}, body);
}
void HostLink::send_response(const std::string& request_id, const std::string& body, uint64_t max_memory_bytes) {
  send(int(MessageType::kResponse), {{"request_id", request_id}, {"max_memory", max_memory_bytes}}, body);
}
void HostLink::send_function_error(const std::string& request_id, const std::string& error_type,
                                   const std::string& body, uint64_t max_memory_bytes) {
  send(int(MessageType::kFunctionError),
       {{"request_id", request_id}, {"error_type", error_type}, {"max_memory", max_memory_bytes}}, body);
}
void HostLink::send_log(bool is_stderr, const std::string& line) {
  send(int(MessageType::kLog), {{"stream", is_stderr ? "stderr" : "stdout"}}, line);
}
void HostLink::send_runtime_exit(const std::string& description) {
  send(int(MessageType::kRuntimeExit), {{"status", description}}, {});
}

}  // namespace thaw::agent
