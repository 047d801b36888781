#include "runtime-api/runtime_api_server.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "base/error.h"
#include "base/log.h"

#include <nlohmann/json.hpp>

namespace thaw::runtime_api {
namespace {

constexpr std::string_view kPrefix = "/2018-06-01/runtime/";

HttpResponse accepted() { return HttpResponse::json(202, R"({"status":"OK"})"); }

HttpResponse method_not_allowed(std::string_view allow) {
  HttpResponse r = HttpResponse::error(405, "MethodNotAllowed", "method not allowed; use " + std::string(allow));
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

std::string header_or_empty(const HttpRequest& request, std::string_view name) {
  const std::string* v = request.header(name);
  return v ? *v : std::string();
}

// The type of an invocation's error: the runtime's Lambda-Runtime-Function-Error-Type, unless
// that is missing or just "Unhandled" (what AWS's runtimes send, or nothing, for every
// exception a function raised); then the errorType of the body, when it has one.
std::string invocation_error_type(const HttpRequest& request) {
  std::string header = header_or_empty(request, "Lambda-Runtime-Function-Error-Type");
  if (!header.empty() && header != "Unhandled") return header;
  auto body = nlohmann::json::parse(request.body, nullptr, false);
  if (body.is_object()) {
    auto it = body.find("errorType");
    if (it != body.end() && it->is_string() && !it->get<std::string>().empty()) return it->get<std::string>();
  }
  return header;
}

}  // namespace

std::string_view to_string(RuntimeEvent::Kind kind) {
  switch (kind) {
    case RuntimeEvent::Kind::kInitDone: return "init-done";
    case RuntimeEvent::Kind::kInitError: return "init-error";
    case RuntimeEvent::Kind::kRestoreReached: return "restore-reached";
    case RuntimeEvent::Kind::kRestoreDone: return "restore-done";
    case RuntimeEvent::Kind::kRestoreError: return "restore-error";
    case RuntimeEvent::Kind::kInvocationResponse: return "invocation-response";
    case RuntimeEvent::Kind::kInvocationError: return "invocation-error";
  }
  return "unknown";
}

std::string_view to_string(RuntimeState state) {
  switch (state) {
    case RuntimeState::kInit: return "Init";
    case RuntimeState::kInitError: return "InitError";
    case RuntimeState::kRestoreReady: return "RestoreReady";
    case RuntimeState::kRestoring: return "Restoring";
    case RuntimeState::kRestoreError: return "RestoreError";
    case RuntimeState::kReady: return "Ready";
    case RuntimeState::kInvoking: return "Invoking";
    case RuntimeState::kStopped: return "Stopped";
  }
  return "Unknown";
}

RuntimeApiServer::RuntimeApiServer(Options options)
    : options_(std::move(options)),
      http_(
          [this] {
            HttpServer::Options o;
            o.address = options_.address;
            o.port = options_.port;
            o.limits = options_.limits;
            o.limits.max_body = options_.max_payload;
            return o;
          }(),
          [this](const HttpRequest& r) { return handle(r); }) {
  event_fd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE));
  if (!event_fd_) throw_errno("eventfd", "runtime API events");
}

RuntimeApiServer::~RuntimeApiServer() { stop(); }

void RuntimeApiServer::start() { http_.start(); }

void RuntimeApiServer::stop() {
  {
    std::lock_guard lock(mutex_);
    state_ = RuntimeState::kStopped;
  }
  changed_.notify_all();
  http_.stop();
}

RuntimeState RuntimeApiServer::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

void RuntimeApiServer::submit(Invocation invocation) {
  {
    std::lock_guard lock(mutex_);
    if (state_ == RuntimeState::kInitError || state_ == RuntimeState::kRestoreError || state_ == RuntimeState::kStopped) {
      throw Error("runtime API: cannot invoke: the runtime is in state " + std::string(to_string(state_)));
    }
    if (pending_ || current_) {
      throw Error("runtime API: cannot invoke " + invocation.request_id + ": invocation " +
                  (current_ ? current_->request_id : pending_->request_id) + " is still in flight");
    }
    if (invocation.request_id.empty()) throw Error("runtime API: an invocation needs a request id");
    pending_ = std::move(invocation);
  }
  changed_.notify_all();
}

void RuntimeApiServer::complete_restore() {
  {
    std::lock_guard lock(mutex_);
    if (state_ != RuntimeState::kRestoreReady) {
      throw Error("runtime API: complete_restore: the runtime is not waiting in restore/next (state " +
                  std::string(to_string(state_)) + ")");
    }
    state_ = RuntimeState::kRestoring;
    restore_released_ = true;
  }
  changed_.notify_all();
}

void RuntimeApiServer::push_event(RuntimeEvent event) {
  spdlog::debug("runtime API: event {} {}", to_string(event.kind), event.request_id);
  events_.push_back(std::move(event));
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(event_fd_.get(), &one, sizeof one);
  changed_.notify_all();
}

std::optional<RuntimeEvent> RuntimeApiServer::poll_event() {
  std::lock_guard lock(mutex_);
  if (events_.empty()) return std::nullopt;
  std::uint64_t value;
  [[maybe_unused]] auto n = ::read(event_fd_.get(), &value, sizeof value);
  RuntimeEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

std::optional<RuntimeEvent> RuntimeApiServer::wait_event(std::chrono::milliseconds timeout) {
  {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [this] { return !events_.empty(); })) return std::nullopt;
  }
  return poll_event();
}

HttpResponse RuntimeApiServer::forbidden(std::string_view call) const {
  return HttpResponse::error(403, "InvalidStateTransition",
                             "State transition from " + std::string(to_string(state_)) + " for " +
                                 std::string(call) + " is not allowed");
}

HttpResponse RuntimeApiServer::handle(const HttpRequest& request) {
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  if (!path.starts_with(kPrefix)) {
    return HttpResponse::error(404, "NotFound", "no such Runtime API resource: " + std::string(path));
  }
  path.remove_prefix(kPrefix.size());
  const bool get = request.method == "GET", post = request.method == "POST";
  if (path == "invocation/next") return get ? next_invocation() : method_not_allowed("GET");
  if (path == "restore/next") return get ? restore_next() : method_not_allowed("GET");
  if (path == "init/error") return post ? init_error(request) : method_not_allowed("POST");
  if (path == "restore/error") return post ? restore_error(request) : method_not_allowed("POST");
  if (path.starts_with("invocation/")) {
    std::string_view rest = path.substr(std::string_view("invocation/").size());
    auto slash = rest.find('/');
    if (slash != std::string_view::npos && slash > 0) {
      std::string_view id = rest.substr(0, slash), what = rest.substr(slash + 1);
      if (what == "response" || what == "error") {
        return post ? invocation_result(request, id, what == "error") : method_not_allowed("POST");
      }
    }
  }
  return HttpResponse::error(404, "NotFound", "no such Runtime API resource: " + std::string(request.target));
}

namespace {

HttpResponse render_invocation(const Invocation& inv) {
  HttpResponse r = HttpResponse::json(200, inv.payload);
  r.headers.emplace_back("Lambda-Runtime-Aws-Request-Id", inv.request_id);
  r.headers.emplace_back("Lambda-Runtime-Deadline-Ms", std::to_string(inv.deadline_ms));
  r.headers.emplace_back("Lambda-Runtime-Invoked-Function-Arn", inv.function_arn);
  if (!inv.trace_id.empty()) r.headers.emplace_back("Lambda-Runtime-Trace-Id", inv.trace_id);
  if (!inv.client_context.empty()) r.headers.emplace_back("Lambda-Runtime-Client-Context", inv.client_context);
  if (!inv.cognito_identity.empty()) r.headers.emplace_back("Lambda-Runtime-Cognito-Identity", inv.cognito_identity);
  if (!inv.tenant_id.empty()) r.headers.emplace_back("Lambda-Runtime-Aws-Tenant-Id", inv.tenant_id);
  return r;
}

HttpResponse stopping_response() {
  HttpResponse r = HttpResponse::error(503, "ServiceUnavailable", "the Runtime API is shutting down");
  r.close = true;
  return r;
}

}  // namespace

HttpResponse RuntimeApiServer::next_invocation() {
  std::unique_lock lock(mutex_);
  switch (state_) {
    case RuntimeState::kInit:
      state_ = RuntimeState::kReady;
      push_event({RuntimeEvent::Kind::kInitDone, {}, {}, {}});
      break;
    case RuntimeState::kRestoring:
      state_ = RuntimeState::kReady;
      push_event({RuntimeEvent::Kind::kRestoreDone, {}, {}, {}});
      break;
    case RuntimeState::kReady:
      break;
    case RuntimeState::kInvoking:
      return render_invocation(*current_);
    default:
      return forbidden("invocation/next");
  }
  changed_.wait(lock, [this] { return state_ != RuntimeState::kReady || pending_.has_value(); });
  if (state_ == RuntimeState::kStopped) return stopping_response();
  if (state_ == RuntimeState::kInvoking) return render_invocation(*current_);  // a second waiter
  if (state_ != RuntimeState::kReady) return forbidden("invocation/next");
  current_ = std::move(pending_);
  pending_.reset();
  state_ = RuntimeState::kInvoking;
  return render_invocation(*current_);
}

HttpResponse RuntimeApiServer::restore_next() {
  std::unique_lock lock(mutex_);
  if (state_ != RuntimeState::kInit || !options_.snap_start) {
    if (state_ == RuntimeState::kInit) {
      return HttpResponse::error(403, "InvalidStateTransition",
                                 "restore/next is only allowed in a SnapStart init (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start)");
    }
    return forbidden("restore/next");
  }
  state_ = RuntimeState::kRestoreReady;
  restore_released_ = false;
  push_event({RuntimeEvent::Kind::kRestoreReached, {}, {}, {}});
  changed_.wait(lock, [this] { return restore_released_ || state_ == RuntimeState::kStopped; });
  if (state_ == RuntimeState::kStopped) return stopping_response();
  HttpResponse r;
  r.status = 200;
  r.headers.emplace_back("Content-Type", "application/json");
  return r;
}

HttpResponse RuntimeApiServer::invocation_result(const HttpRequest& request, std::string_view id, bool is_error) {
  std::lock_guard lock(mutex_);
  if (state_ != RuntimeState::kInvoking) {
    return forbidden(is_error ? "invocation error" : "invocation response");
  }
  if (id != current_->request_id) {
    return HttpResponse::error(400, "InvalidRequestID", "Invalid request ID: " + std::string(id) +
                                                             " is not the current invocation");
  }
  if (!is_error) {
    const std::string* mode = request.header("Lambda-Runtime-Function-Response-Mode");
    if (mode && !iequals(*mode, "buffered")) {
      return HttpResponse::error(400, "InvalidFunctionResponseMode",
                                 "Invalid function response mode '" + *mode +
                                     "': thaw does not support response streaming; return a buffered response");
    }
  }
  RuntimeEvent event;
  event.request_id = current_->request_id;
  current_.reset();
  state_ = RuntimeState::kReady;
  if (request.body_too_large) {
    std::string limit = std::to_string(options_.max_payload);
    event.kind = RuntimeEvent::Kind::kInvocationError;
    event.error_type = "Function.ResponseSizeTooLarge";
    nlohmann::json body = {
        {"errorMessage", "Response payload size (" + std::to_string(request.body_length) +
                             " bytes) exceeded maximum allowed payload size (" + limit + " bytes)."},
        {"errorType", "Function.ResponseSizeTooLarge"}};
    event.body = body.dump();
    push_event(std::move(event));
    return HttpResponse::error(413, "RequestEntityTooLarge",
                               "Exceeded maximum allowed payload size (" + limit + " bytes).");
  }
  event.kind = is_error ? RuntimeEvent::Kind::kInvocationError : RuntimeEvent::Kind::kInvocationResponse;
  if (is_error) event.error_type = invocation_error_type(request);
  event.body = request.body;
  push_event(std::move(event));
  return accepted();
}

HttpResponse RuntimeApiServer::init_error(const HttpRequest& request) {
  std::lock_guard lock(mutex_);
  if (state_ != RuntimeState::kInit) return forbidden("init/error");
  if (request.body_too_large) {
    return HttpResponse::error(413, "RequestEntityTooLarge",
                               "Exceeded maximum allowed payload size (" + std::to_string(options_.max_payload) + " bytes).");
  }
  state_ = RuntimeState::kInitError;
  push_event({RuntimeEvent::Kind::kInitError, {}, header_or_empty(request, "Lambda-Runtime-Function-Error-Type"),
              request.body});
  return accepted();
}

HttpResponse RuntimeApiServer::restore_error(const HttpRequest& request) {
  std::lock_guard lock(mutex_);
  if (state_ != RuntimeState::kRestoring) return forbidden("restore/error");
  if (request.body_too_large) {
    return HttpResponse::error(413, "RequestEntityTooLarge",
                               "Exceeded maximum allowed payload size (" + std::to_string(options_.max_payload) + " bytes).");
  }
  state_ = RuntimeState::kRestoreError;
  push_event({RuntimeEvent::Kind::kRestoreError, {}, header_or_empty(request, "Lambda-Runtime-Function-Error-Type"),
              request.body});
  return accepted();
}

}  // namespace thaw::runtime_api
