#include "engine/sandbox.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <utility>

#include "engine/net/guest_link.h"
#include "engine/sandbox_internal.h"
#include "engine/trace_header.h"
#include "engine/vmm/vm.h"
#include "restore-hooks/host_hooks.h"
#include "snapshot/page_store_reader.h"

namespace thaw::engine {
using detail::Clock;
using detail::error_json;
using detail::ms_since;

namespace detail {

vmm::VmNetConfig guest_nic(const SandboxNic& nic) {
  vmm::VmNetConfig c;
  c.backend = UniqueFd(::fcntl(nic.tap_fd, F_DUPFD_CLOEXEC, 0));
  if (!c.backend) throw_errno("fcntl(F_DUPFD_CLOEXEC)", "the sandbox's TAP");
  c.mac = vmm::parse_mac(net::kGuestMac);
  c.tx_limit = nic.tx_limit;
  return c;
}

}  // namespace detail

Sandbox::Sandbox(image::ImageConfig image, SandboxOptions options)
    : image_(std::move(image)), options_(std::move(options)), console_(options_.console) {}

Sandbox::~Sandbox() {
  try {
    save_written_pages();
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
    while (auto frame = decoder_.next()) {
      auto m = channel::decode_guest_message(std::move(*frame));
      if (auto* log = std::get_if<channel::Log>(&m)) {
        if (options_.log) options_.log(log->line);
        continue;
      }
      inbox_.push_back(std::move(m));
    }
  } catch (const channel::ProtocolError& e) {
    // A guest that breaks the protocol loses its sandbox, nothing more.
    channel_error_ = e.what();
  }
  cv_.notify_all();
}

std::optional<vmm::VmShell> Sandbox::take_vm_shell() {
  auto shell = std::exchange(options_.vm_shell, nullptr);
  if (!shell || !shell->vm_fd) return std::nullopt;
  return std::move(*shell);
}

void Sandbox::boot(const std::string& image_dir) {
  const auto& fn = image_.function;
  vmm::VmConfig vc;
  vc.kernel = image_.kernel_path(image_dir);
  vc.initrd = image_.initramfs_path(image_dir);
  vc.mem_mib = fn.memory_mb;
  vc.vcpus = options_.vcpus;
  vc.console = console_sink();
  if (options_.network) vc.net = detail::guest_nic(*options_.network);
  auto t0 = Clock::now();
  vm_ = std::make_unique<vmm::Vm>(std::move(vc), take_vm_shell());
  vm_->channel().set_receiver([this](std::span<const uint8_t> b) { on_channel_bytes(b); });
  vm_->start();
  alive_ = true;

  // The agent speaks first, once its end of the channel is open and raw.
  auto ready = wait_message(t0 + options_.boot_allowance);
  if (!ready || !std::holds_alternative<channel::AgentReady>(*ready)) {
    std::string why = ready ? "the guest agent sent " + std::string(channel::name_of(*ready)) + " before agent-ready"
                      : vm_->exited() ? "the microVM ended before its agent came up" + console_.describe_tail()
                      : channel_error_ ? "the guest broke the channel protocol: " + *channel_error_
                                       : "the guest agent did not come up within " +
                                             std::to_string(options_.boot_allowance.count() / 1000) + " s" +
                                             console_.describe_tail();
    discard(why);
    throw SandboxError("Sandbox.Error", why);
  }
  hooks::HostHookOptions id_options;
  id_options.skip_entropy = true;
  id_options.function_version = options_.function_version;
  auto ids = hooks::make_after_restore_context(id_options);
  send(channel::Config{.function_name = fn.name,
                   .function_version = options_.function_version,
                   .handler = fn.handler,
                   .memory_mb = fn.memory_mb,
                   .region = options_.region,
                   .initialization_type = options_.initialization_type,
                   .log_group_name = "/aws/lambda/" + fn.name,
                   .log_stream_name = ids.log_stream_name,
                   .sandbox_id = ids.sandbox_id,
                   .wall_clock_ns = ids.wall_clock_ns,
                   .environment = fn.environment,
                   .net_address = options_.network ? net::kGuestAddress : "",
                   .net_prefix = options_.network ? net::kGuestPrefix : 0,
                   .net_gateway = options_.network ? net::kGatewayAddress : ""});

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
  if (auto* done = std::get_if<channel::InitDone>(&*m)) return finish_init(done->init_ms, init_budget, false);
  if (auto* ready = std::get_if<channel::CheckpointReady>(&*m)) return finish_init(ready->init_ms, init_budget, true);
  if (auto* e = std::get_if<channel::InitError>(&*m)) {
    discard("init error");
    throw SandboxError(e->error_type.empty() ? "Runtime.Unknown" : e->error_type, "the function's INIT failed",
                       e->body);
  }
  if (auto* exit = std::get_if<channel::RuntimeExit>(&*m)) {
    discard("runtime exited during INIT");
    throw SandboxError("Runtime.ExitError", "the runtime exited during INIT with " + exit->status,
                       error_json("Runtime.ExitError", "RequestId: init Error: Runtime exited with error: " + exit->status));
  }
  discard("unexpected message during INIT");
  throw SandboxError("Sandbox.Error", "unexpected " + std::string(channel::name_of(*m)) + " message during INIT");
}

void Sandbox::finish_init(double init_ms, std::chrono::milliseconds budget, bool at_checkpoint) {
  init_ms_ = init_ms;
  if (init_ms_ > double(budget.count())) {
    discard("INIT took longer than its budget");
    throw SandboxError("Sandbox.Timedout", "INIT took " + std::to_string(int(init_ms_)) + " ms, over its " +
                                               std::to_string(budget.count()) + " ms budget");
  }
  if (options_.log) options_.log(init_report_line(init_ms_, true));
  at_checkpoint_ = at_checkpoint;
  if (!at_checkpoint_) freeze();  // frozen until its first invocation
}

template <class T>
void Sandbox::send(T message) {
  auto frame = channel::to_frame(std::move(message));
  frame.sequence = ++sequence_;
  std::string wire = channel::encode(frame);
  vm_->channel().write({reinterpret_cast<const uint8_t*>(wire.data()), wire.size()});
}
template void Sandbox::send(channel::BeforeCheckpoint);
template void Sandbox::send(channel::AfterRestore);

std::optional<channel::GuestMessage> Sandbox::wait_message(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  for (;;) {
    if (!inbox_.empty()) {
      auto m = std::move(inbox_.front());
      inbox_.pop_front();
      return m;
    }
    if (channel_error_ || vm_->exited() || Clock::now() >= deadline) return std::nullopt;
    cv_.wait_until(lock, std::min(deadline, Clock::now() + std::chrono::milliseconds(50)));
  }
}

InvokeResult Sandbox::invoke(const InvokeRequest& request) {
  const auto entered = Clock::now();
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
  save_written_pages();
  bool first = std::exchange(first_invoke_, false);
  // Provisioned concurrency's INIT or restore ran ahead of any invocation: its REPORT has neither.
  const bool reports_start = first && options_.initialization_type != "provisioned-concurrency";
  if (reports_start && loader_) {
    r.report.start.kind = StartInfo::Kind::kRestored;
    r.report.start.restore_ms = restore_ms_;
    r.report.start.billed_restore_ms = restore_hooks_ms_;
  } else if (reports_start) {
    r.report.start.kind = StartInfo::Kind::kCold;
    r.report.start.init_ms = init_ms_;
  }
  const auto& id = r.report.request_id;
  thaw_vcpus();
  if (options_.log) options_.log(start_line(id, options_.function_version));
  auto timeout = std::chrono::seconds(image_.function.timeout_s);
  auto t0 = Clock::now();
  send(channel::Invoke{
      .request_id = id,
      .time_left_ms = int64_t(image_.function.timeout_s) * 1000,
      .function_arn = "arn:aws:lambda:" + options_.region + ":" + options_.account_id + ":function:" +
                      image_.function.name +
                      (options_.function_version == "$LATEST" ? "" : ":" + options_.function_version),
      .trace_id = new_trace_header(),
      .client_context = request.client_context,
      .cognito_identity = request.cognito_identity,
      .tenant_id = request.tenant_id,
      .payload = request.payload});
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
    take_answer(*m, r);
  }
  if (r.report.start.kind == StartInfo::Kind::kRestored) {
    r.report.start.phases = restore_phases_;
    r.report.start.phases.push_back({"first_response", ms_since(entered)});
  }
  if (options_.log) {
    options_.log(end_line(id));
    options_.log(report_line(r.report));
  }
  if (first) finish_first_invocation();
  if (alive_) freeze();
  return r;
}

void Sandbox::take_answer(channel::GuestMessage& m, InvokeResult& r) {
  const auto& id = r.report.request_id;
  if (auto* ok = std::get_if<channel::Response>(&m)) {
    r.status = InvokeResult::Status::kSuccess;
    r.report.max_memory_used_bytes = ok->max_memory_bytes;
    r.body = std::move(ok->body);
  } else if (auto* e = std::get_if<channel::FunctionError>(&m)) {
    r.status = InvokeResult::Status::kFunctionError;
    r.report.max_memory_used_bytes = e->max_memory_bytes;
    r.error_type = e->error_type;
    r.body = std::move(e->body);
  } else if (auto* exit = std::get_if<channel::RuntimeExit>(&m)) {
    r.status = InvokeResult::Status::kRuntimeExit;
    r.error_type = "Runtime.ExitError";
    r.body = error_json(r.error_type, "RequestId: " + id + " Error: Runtime exited with error: " + exit->status);
    r.report.status = "error";
    discard("runtime exited");
  } else {
    r.status = InvokeResult::Status::kSandboxError;
    r.error_type = "Sandbox.Error";
    r.body = error_json(r.error_type, "unexpected " + std::string(channel::name_of(m)) + " message");
    r.report.status = "error";
    discard("unexpected message");
  }
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
      send(channel::Shutdown{});
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
