#include "engine/vmm_protocol.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace thaw::engine::vmm_protocol {
using nlohmann::json;

namespace {

// A field that must be there, of the type asked for.
template <typename T>
T need(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) throw channel::ProtocolError(std::string("vmm protocol: missing field '") + key + "'");
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw channel::ProtocolError(std::string("vmm protocol: field '") + key + "' has the wrong type");
  }
}

using ms = std::chrono::milliseconds;

}  // namespace

std::chrono::steady_clock::time_point started_received_at(const channel::Message& started) {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(need<int64_t>(started.meta, "received_ns")));
}

json encode_phases(std::span<const RestorePhase> phases) {
  json a = json::array();
  for (const auto& p : phases) a.push_back({{"name", p.name}, {"ms", p.ms}});
  return a;
}

std::vector<RestorePhase> decode_phases(const json& j) {
  if (!j.is_array()) throw channel::ProtocolError("vmm protocol: field 'phases' is not an array");
  std::vector<RestorePhase> phases;
  for (const auto& p : j) {
    if (!p.is_object()) throw channel::ProtocolError("vmm protocol: a phase is not an object");
    phases.push_back({need<std::string>(p, "name"), need<double>(p, "ms")});
  }
  return phases;
}

channel::Message message(Op op, json meta, std::string data) {
  channel::Message m;
  m.type = static_cast<channel::MessageType>(op);
  m.meta = meta.is_null() ? json::object() : std::move(meta);  // `{}` in a call is null, not {}
  m.data = std::move(data);
  return m;
}

json encode_options(const SandboxOptions& o) {
  return {{"vcpus", o.vcpus},
          {"boot_allowance_ms", o.boot_allowance.count()},
          {"init_timeout_ms", o.init_timeout.count()},
          {"initialization_type", o.initialization_type},
          {"region", o.region},
          {"account_id", o.account_id},
          {"function_version", o.function_version},
          {"freeze", o.freeze_between_invocations},
          {"prefetch", o.prefetch},
          {"record_working_set", o.record_working_set},
          {"background_load", o.background_load},
          {"working_set_before_resume", o.working_set_before_resume},
          {"stage2_prefault", o.stage2_prefault},
          {"copy_written_pages", o.copy_written_pages},
          {"shared_image", o.shared_image.has_value()},
          {"skip_entropy", o.hooks.skip_entropy},
          {"skip_vm_generation_id", o.hooks.skip_vm_generation_id},
          {"hooks_function_version", o.hooks.function_version},
          {"restore_budget_ms", o.restore_budget.count()},
          {"checkpoint_min_uptime_ms", o.checkpoint_min_uptime.count()},
          {"network", o.network ? json{{"tx_bytes_per_second", o.network->tx_limit.bytes_per_second},
                                       {"tx_burst_bytes", o.network->tx_limit.burst_bytes}}
                                : json(nullptr)}};
}

SandboxOptions decode_options(const json& j) {
  SandboxOptions o;
  o.vcpus = need<unsigned>(j, "vcpus");
  o.boot_allowance = ms(need<int64_t>(j, "boot_allowance_ms"));
  o.init_timeout = ms(need<int64_t>(j, "init_timeout_ms"));
  o.initialization_type = need<std::string>(j, "initialization_type");
  o.region = need<std::string>(j, "region");
  o.account_id = need<std::string>(j, "account_id");
  o.function_version = need<std::string>(j, "function_version");
  o.freeze_between_invocations = need<bool>(j, "freeze");
  o.prefetch = need<bool>(j, "prefetch");
  o.record_working_set = need<bool>(j, "record_working_set");
  o.background_load = need<bool>(j, "background_load");
  o.working_set_before_resume = need<bool>(j, "working_set_before_resume");
  o.stage2_prefault = need<bool>(j, "stage2_prefault");
  o.copy_written_pages = need<bool>(j, "copy_written_pages");
  if (need<bool>(j, "shared_image")) o.shared_image = memory::SharedImageFds{kImageDataFd, kImageIndexFd};
  o.hooks.skip_entropy = need<bool>(j, "skip_entropy");
  o.hooks.skip_vm_generation_id = need<bool>(j, "skip_vm_generation_id");
  o.hooks.function_version = need<std::string>(j, "hooks_function_version");
  o.restore_budget = ms(need<int64_t>(j, "restore_budget_ms"));
  o.checkpoint_min_uptime = ms(need<int64_t>(j, "checkpoint_min_uptime_ms"));
  auto net = j.find("network");
  if (net == j.end()) throw channel::ProtocolError("vmm protocol: missing field 'network'");
  if (!net->is_null()) {
    o.network = SandboxNic{.tap_fd = kTapFd,
                           .tx_limit = {need<uint64_t>(*net, "tx_bytes_per_second"), need<uint64_t>(*net, "tx_burst_bytes")}};
  }
  return o;
}

json encode_request(const InvokeRequest& r) {
  return {{"request_id", r.request_id},
          {"client_context", r.client_context},
          {"cognito_identity", r.cognito_identity},
          {"tenant_id", r.tenant_id}};
}

InvokeRequest decode_request(const json& j, std::string payload) {
  InvokeRequest r;
  r.payload = std::move(payload);
  r.request_id = need<std::string>(j, "request_id");
  r.client_context = need<std::string>(j, "client_context");
  r.cognito_identity = need<std::string>(j, "cognito_identity");
  r.tenant_id = need<std::string>(j, "tenant_id");
  return r;
}

json encode_result(const InvokeResult& r) {
  const auto& p = r.report;
  json j = {{"status", int(r.status)},
            {"error_type", r.error_type},
            {"request_id", p.request_id},
            {"duration_ms", p.duration_ms},
            {"memory_size_mb", p.memory_size_mb},
            {"max_memory_used_bytes", p.max_memory_used_bytes},
            {"start", int(p.start.kind)},
            {"init_ms", p.start.init_ms},
            {"restore_ms", p.start.restore_ms},
            {"billed_restore_ms", p.start.billed_restore_ms},
            {"phases", encode_phases(p.start.phases)}};
  if (p.status) j["report_status"] = *p.status;
  return j;
}

InvokeResult decode_result(const json& j, std::string body) {
  InvokeResult r;
  r.body = std::move(body);
  int status = need<int>(j, "status");
  if (status < 0 || status > int(InvokeResult::Status::kSandboxError))
    throw channel::ProtocolError("vmm protocol: unknown invocation status " + std::to_string(status));
  r.status = InvokeResult::Status(status);
  r.error_type = need<std::string>(j, "error_type");
  auto& p = r.report;
  p.request_id = need<std::string>(j, "request_id");
  p.duration_ms = need<double>(j, "duration_ms");
  p.memory_size_mb = need<uint32_t>(j, "memory_size_mb");
  p.max_memory_used_bytes = need<uint64_t>(j, "max_memory_used_bytes");
  int start = need<int>(j, "start");
  if (start < 0 || start > int(StartInfo::Kind::kRestored))
    throw channel::ProtocolError("vmm protocol: unknown start kind " + std::to_string(start));
  p.start.kind = StartInfo::Kind(start);
  p.start.init_ms = need<double>(j, "init_ms");
  p.start.restore_ms = need<double>(j, "restore_ms");
  p.start.billed_restore_ms = need<double>(j, "billed_restore_ms");
  p.start.phases = decode_phases(need<json>(j, "phases"));
  if (j.contains("report_status")) p.status = need<std::string>(j, "report_status");
  return r;
}

json encode_snapshot_info(const SnapshotInfo& i) {
  const auto& w = i.pages;
  return {{"init_ms", i.init_ms},           {"pause_ms", i.pause_ms},       {"save_ms", i.save_ms},
          {"pages", w.pages},               {"zero_pages", w.zero_pages},   {"chunks", w.chunks},
          {"stored_chunks", w.stored_chunks}, {"dedupe_hits", w.dedupe_hits}, {"raw_bytes", w.raw_bytes},
          {"stored_bytes", w.stored_bytes}, {"seconds", w.seconds}};
}

SnapshotInfo decode_snapshot_info(const json& j) {
  SnapshotInfo i;
  i.init_ms = need<double>(j, "init_ms");
  i.pause_ms = need<double>(j, "pause_ms");
  i.save_ms = need<double>(j, "save_ms");
  auto& w = i.pages;
  w.pages = need<uint64_t>(j, "pages");
  w.zero_pages = need<uint64_t>(j, "zero_pages");
  w.chunks = need<uint64_t>(j, "chunks");
  w.stored_chunks = need<uint64_t>(j, "stored_chunks");
  w.dedupe_hits = need<uint64_t>(j, "dedupe_hits");
  w.raw_bytes = need<uint64_t>(j, "raw_bytes");
  w.stored_bytes = need<uint64_t>(j, "stored_bytes");
  w.seconds = need<double>(j, "seconds");
  return i;
}

std::optional<channel::Message> read_message(int fd, channel::Decoder& decoder, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  char buf[4096];
  for (;;) {
    if (auto m = decoder.next()) return m;
    auto left = std::chrono::duration_cast<ms>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    decoder.feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

}  // namespace thaw::engine::vmm_protocol
