#include "engine/sandbox.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <utility>

#include "engine/sandbox_internal.h"
#include "engine/vmm/vm.h"
#include "restore-hooks/host_hooks.h"
#include "snapshot/page_store_reader.h"

namespace thaw::engine {
using detail::Clock;
using detail::error_json;
using detail::ms_since;
using detail::str;
using detail::unix_ms_now;
using channel::Message;
using channel::MessageType;

Sandbox::Sandbox(image::ImageConfig image, SandboxOptions options)
    : image_(std::move(image)), options_(std::move(options)) {}

Sandbox::~Sandbox() {
  try {
    shutdown();
  } catch (...) {
  }
}

std::unique_ptr<Sandbox> Sandbox::cold_start(const std::string& image_dir, SandboxOptions options) {
  auto image = image::ImageConfig::load(image_dir);
  std::unique_ptr<Sandbox> s(new Sandbox(std::move(image), std::move(options)));
  s->boot(image_dir);
  return s;
}

void Sandbox::on_channel_bytes(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mu_);
  if (channel_error_) return;
  decoder_.feed(std::as_bytes(bytes));
  try {
    while (auto m = decoder_.next()) {
      if (m->type == MessageType::kLog) {
        if (options_.log) options_.log(m->data);
        continue;
      }
      inbox_.push_back(std::move(*m));
    }
  } catch (const channel::ProtocolError& e) {
    // A guest that breaks the protocol loses its sandbox, nothing more.
    channel_error_ = e.what();
  }
  cv_.notify_all();
}

std::function<void(uint8_t)> Sandbox::console_sink() {
  return [this](uint8_t b) {
    if (b == '\n') {
      if (options_.console) options_.console(console_line_);
      console_line_.clear();
    } else if (b != '\r' && console_line_.size() < 4096) {
      console_line_.push_back(static_cast<char>(b));
    }
  };
}

void Sandbox::boot(const std::string& image_dir) {
  const auto& fn = image_.function;
  vmm::VmConfig vc;
  vc.kernel = image_.kernel_path(image_dir);
  vc.initrd = image_.initramfs_path(image_dir);
  vc.mem_mib = fn.memory_mb;
  vc.vcpus = options_.vcpus;
  vc.console = console_sink();
  auto t0 = Clock::now();
  vm_ = std::make_unique<vmm::Vm>(std::move(vc));
  vm_->channel().set_receiver([this](std::span<const uint8_t> b) { on_channel_bytes(b); });
  vm_->start();
  alive_ = true;

  // The agent speaks first, once its end of the channel is open and raw.
  auto ready = wait_message(t0 + options_.boot_allowance);
  if (!ready || ready->type != MessageType::kAgentReady) {
    std::string why = ready ? "the guest agent sent " + std::string(channel::message_type_name(ready->type)) +
                                  " before agent-ready"
                      : vm_->exited() ? "the microVM ended before its agent came up"
                      : channel_error_ ? "the guest broke the channel protocol: " + *channel_error_
                                       : "the guest agent did not come up within " +
                                             std::to_string(options_.boot_allowance.count() / 1000) + " s";
    discard(why);
    throw SandboxError("Sandbox.Error", why);
  }
  hooks::HostHookOptions id_options;
  id_options.skip_entropy = true;
  id_options.function_version = options_.function_version;
  auto ids = hooks::make_after_restore_context(id_options);
  nlohmann::json env = nlohmann::json::object();
  for (const auto& [k, v] : fn.environment) env[k] = v;
  send(MessageType::kConfig, {{"function_name", fn.name},
                              {"function_version", options_.function_version},
                              {"handler", fn.handler},
                              {"memory_mb", fn.memory_mb},
                              {"region", options_.region},
                              {"initialization_type", options_.initialization_type},
                              {"log_group_name", "/aws/lambda/" + fn.name},
                              {"log_stream_name", ids.log_stream_name},
                              {"sandbox_id", ids.sandbox_id},
                              {"clock_ns", ids.wall_clock_ns},
                              {"environment", env}});

  auto init_budget = options_.init_timeout.count() > 0 ? options_.init_timeout
                                                       : std::chrono::milliseconds(fn.init_timeout_s * 1000);
  auto init_start = Clock::now();
  auto m = wait_message(init_start + init_budget);
  if (!m) {
    std::string why = channel_error_ ? "the guest broke the channel protocol: " + *channel_error_
                      : vm_->exited() ? "the microVM ended during INIT"
                                      : "INIT did not finish within " + std::to_string(init_budget.count()) + " ms";
    discard(why);
    throw SandboxError("Sandbox.Timedout", why);
  }
  switch (m->type) {
    case MessageType::kInitDone:
    case MessageType::kCheckpointReady: {
      init_ms_ = m->meta.value("init_ms", ms_since(init_start));
      if (init_ms_ > double(init_budget.count())) {
        discard("INIT took longer than its budget");
        throw SandboxError("Sandbox.Timedout", "INIT took " + std::to_string(int(init_ms_)) + " ms, over its " +
                                                   std::to_string(init_budget.count()) + " ms budget");
      }
      if (options_.log) options_.log(init_report_line(init_ms_, true));
      at_checkpoint_ = m->type == MessageType::kCheckpointReady;
      if (!at_checkpoint_) freeze();  // frozen until its first invocation
      return;
    }
    case MessageType::kInitError: {
      std::string type = str(m->meta, "error_type");
      discard("init error");
      throw SandboxError(type.empty() ? "Runtime.Unknown" : type, "the function's INIT failed", m->data);
    }
    case MessageType::kRuntimeExit: {
      std::string status = str(m->meta, "status");
      discard("runtime exited during INIT");
      throw SandboxError("Runtime.ExitError", "the runtime exited during INIT with " + status,
                         error_json("Runtime.ExitError", "RequestId: init Error: Runtime exited with error: " + status));
    }
    default:
      discard("unexpected message during INIT");
      throw SandboxError("Sandbox.Error", std::string("unexpected ") +
                                              std::string(channel::message_type_name(m->type)) + " message during INIT");
  }
}

void Sandbox::send(MessageType type, nlohmann::json meta, std::string data) {
  Message m;
  m.type = type;
  m.sequence = ++sequence_;
  m.meta = std::move(meta);
  m.data = std::move(data);
  std::string wire = channel::encode(m);
  vm_->channel().write({reinterpret_cast<const uint8_t*>(wire.data()), wire.size()});
}

std::optional<Message> Sandbox::wait_message(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  for (;;) {
    if (!inbox_.empty()) {
      Message m = std::move(inbox_.front());
      inbox_.pop_front();
      return m;
    }
    if (channel_error_ || vm_->exited() || Clock::now() >= deadline) return std::nullopt;
    cv_.wait_until(lock, std::min(deadline, Clock::now() + std::chrono::milliseconds(50)));
  }
}

InvokeResult Sandbox::invoke(const InvokeRequest& request) {
  InvokeResult r;
  r.report.request_id = request.request_id.empty() ? hooks::new_uuid_v4() : request.request_id;
  r.report.memory_size_mb = image_.function.memory_mb;
  if (!alive_) {
    r.status = InvokeResult::Status::kSandboxError;
    r.error_type = "Sandbox.Unavailable";
    r.body = error_json(r.error_type, "the sandbox was discarded");
    return r;
  }
  // Refused before it reaches the guest: it is not the sandbox's first invocation (which
  // reports the start and ends working-set recording), the next one is.
  if (request.payload.size() > 6 * 1024 * 1024) {
    r.status = InvokeResult::Status::kFunctionError;
    r.error_type = "RequestEntityTooLargeException";
    r.body = error_json(r.error_type, "Request must be smaller than 6291456 bytes for the InvokeFunction operation");
    return r;
  }
  bool first = std::exchange(first_invoke_, false);
  if (first && loader_) {
    r.report.start.kind = StartInfo::Kind::kRestored;
    r.report.start.restore_ms = restore_ms_;
    r.report.start.billed_restore_ms = restore_hooks_ms_;
  } else if (first) {
    r.report.start.kind = StartInfo::Kind::kCold;
    r.report.start.init_ms = init_ms_;
  }
  const auto& id = r.report.request_id;
  thaw_vcpus();
  if (options_.log) options_.log(start_line(id, options_.function_version));
  auto timeout = std::chrono::seconds(image_.function.timeout_s);
  auto t0 = Clock::now();
  send(MessageType::kInvoke,
       {{"request_id", id},
        {"deadline_ms", unix_ms_now() + int64_t(image_.function.timeout_s) * 1000},
        {"time_left_ms", int64_t(image_.function.timeout_s) * 1000},
        {"function_arn", "arn:aws:lambda:" + options_.region + ":" + options_.account_id + ":function:" +
                             image_.function.name +
                             (options_.function_version == "$LATEST" ? "" : ":" + options_.function_version)},
        {"trace_id", "Root=1-" + id.substr(0, 8) + "-" + id.substr(9, 4) + id.substr(14, 4) + id.substr(19, 4) + id.substr(24)},
        {"client_context", request.client_context},
        {"cognito_identity", request.cognito_identity}},
       request.payload);
  auto m = wait_message(t0 + timeout);
  r.report.duration_ms = ms_since(t0);
  if (!m) {
    bool timed_out = !vm_->exited() && !channel_error_;
    if (timed_out) {
      char msg[128];
      std::snprintf(msg, sizeof msg, "Task timed out after %.2f seconds", double(image_.function.timeout_s));
      r.status = InvokeResult::Status::kTimeout;
      r.error_type = "Sandbox.Timedout";
      r.body = error_json(r.error_type, std::string("RequestId: ") + id + " Error: " + msg);
      r.report.status = "timeout";
      if (options_.log) options_.log(std::string(msg));
      discard("invocation timed out");
    } else {
      r.status = InvokeResult::Status::kSandboxError;
      r.error_type = "Sandbox.Error";
      r.body = error_json(r.error_type, channel_error_ ? *channel_error_ : "the microVM ended during the invocation");
      r.report.status = "error";
      discard(channel_error_ ? "channel protocol error" : "microVM ended");
    }
  } else {
    r.report.max_memory_used_bytes = m->meta.value("max_memory", uint64_t{0});
    switch (m->type) {
      case MessageType::kResponse:
        r.status = InvokeResult::Status::kSuccess;
        r.body = std::move(m->data);
        break;
      case MessageType::kFunctionError:
        r.status = InvokeResult::Status::kFunctionError;
        r.error_type = str(m->meta, "error_type");
        r.body = std::move(m->data);
        break;
      case MessageType::kRuntimeExit: {
        r.status = InvokeResult::Status::kRuntimeExit;
        r.error_type = "Runtime.ExitError";
        r.body = error_json(r.error_type,
                            "RequestId: " + id + " Error: Runtime exited with error: " + str(m->meta, "status"));
        r.report.status = "error";
        discard("runtime exited");
        break;
      }
      default:
        r.status = InvokeResult::Status::kSandboxError;
        r.error_type = "Sandbox.Error";
        r.body = error_json(r.error_type, std::string("unexpected ") +
                                              std::string(channel::message_type_name(m->type)) + " message");
        discard("unexpected message");
    }
  }
  if (options_.log) {
    options_.log(end_line(id));
    options_.log(report_line(r.report));
  }
  if (first) finish_first_invocation();
  if (alive_) freeze();
  return r;
}

void Sandbox::freeze() {
  if (!options_.freeze_between_invocations || frozen_ || !vm_ || vm_->exited()) return;
  vm_->pause();
  frozen_ = true;
}

void Sandbox::thaw_vcpus() {
  if (!frozen_) return;
  frozen_ = false;
  vm_->resume();
}

void Sandbox::discard(const std::string& why) {
  if (!vm_) return;
  spdlog::debug("sandbox discarded: {}", why);
  alive_ = false;
  vm_->request_stop(vmm::ExitReason::kStopped, why);
  vm_->wait();
}

void Sandbox::shutdown() {
  if (!vm_) return;
  if (alive_ && !vm_->exited()) {
    try {
      thaw_vcpus();
      send(MessageType::kShutdown, nlohmann::json::object());
      // The agent gives the runtime 2 s after SIGTERM, then powers off.
      auto deadline = Clock::now() + std::chrono::seconds(5);
      while (!vm_->exited() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } catch (const std::exception&) {
    }
  }
  alive_ = false;
  vm_->request_stop(vmm::ExitReason::kStopped, "shutdown");
  vm_->wait();
  std::unique_ptr<vmm::Vm> gone;
  {
    std::lock_guard lock(mu_);  // the loader's failure callback looks at vm_ under mu_
    gone = std::move(vm_);
  }
}

}  // namespace thaw::engine
