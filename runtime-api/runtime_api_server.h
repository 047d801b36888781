#pragma once
// The Lambda Runtime API (version 2018-06-01) as the function's runtime sees it, on
// 127.0.0.1:9001 inside the microVM (natively on loopback in tests). Wire-compatible with
// unmodified runtime clients (aws-lambda-ric, awslambdaric, the Java and Go clients).
//
// The owner (the guest agent) submits invocations and reads what the runtime did as a queue of
// RuntimeEvents. The runtime's state machine, as Lambda's:
//
//   INIT ──invocation/next──► READY ◄──────────────┐   (first next = init done)
//    │ └─restore/next (SnapStart)─► RESTORE_READY   │   (blocks: the checkpoint point)
//    │                               │ complete_restore()
//    │                               ▼              │
//    │                           RESTORING ─next────┘   (after-restore hooks ran)
//    │                               └─restore/error─► RESTORE_ERROR
//    └─init/error─► INIT_ERROR
//   READY ──next delivers a submitted invocation──► INVOKING ──response|error──► READY
//
// A call the current state does not allow gets 403 (InvalidStateTransition); a response or error
// for an id that is not the current invocation gets 400 (InvalidRequestID); a body above
// max_payload gets 413 (RequestEntityTooLarge) and the invocation fails with
// Function.ResponseSizeTooLarge; a streaming response gets 400 (InvalidFunctionResponseMode).
// invocation/next while INVOKING hands out the current invocation again (a client that lost
// its connection retries). Error bodies are passed through unchanged.
// In a SnapStart init, a runtime without hooks simply calls invocation/next: that is kInitDone,
// and the owner snapshots while that call waits.
// Threads: the HTTP connections run on their own threads; every public method is thread-safe.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "base/unique_fd.h"
#include "runtime-api/http_server.h"

namespace thaw::runtime_api {

inline constexpr std::size_t kMaxPayloadBytes = 6u << 20;  // Lambda's 6 MB, each way

// One invoke as the runtime receives it from invocation/next.
struct Invocation {
  std::string request_id;
  std::int64_t deadline_ms = 0;  // Unix epoch milliseconds
  std::string function_arn;
  std::string trace_id;          // header omitted when empty
  std::string client_context;    // JSON; header omitted when empty
  std::string cognito_identity;  // JSON; header omitted when empty
  std::string tenant_id;         // the invoke's tenant (Lambda's tenant isolation); omitted when empty
  std::string payload;           // the event
};

// Something the runtime did that the owner must act on.
struct RuntimeEvent {
  enum class Kind {
    kInitDone,            // first invocation/next: init finished
    kInitError,           // init/error: error_type, body
    kRestoreReached,      // restore/next (SnapStart): init finished, runtime waits; snapshot now
    kRestoreDone,         // invocation/next after complete_restore(): after-restore hooks ran
    kRestoreError,        // restore/error: error_type, body
    kInvocationResponse,  // request_id, body (the function's result)
    kInvocationError,     // request_id, error_type (the runtime's, else the body's errorType; may be empty), body
  };
  Kind kind;
  std::string request_id;
  std::string error_type;
  std::string body;
};
std::string_view to_string(RuntimeEvent::Kind kind);

enum class RuntimeState { kInit, kInitError, kRestoreReady, kRestoring, kRestoreError, kReady, kInvoking, kStopped };
std::string_view to_string(RuntimeState state);

class RuntimeApiServer {
 public:
  struct Options {
    std::string address = "127.0.0.1";
    std::uint16_t port = 9001;  // 0: any free port
    // A SnapStart init: the runtime may park in restore/next (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start).
    bool snap_start = false;
    std::size_t max_payload = kMaxPayloadBytes;
    HttpLimits limits;  // max_body is set from max_payload
  };

  explicit RuntimeApiServer(Options options);
  ~RuntimeApiServer();
  RuntimeApiServer(const RuntimeApiServer&) = delete;
  RuntimeApiServer& operator=(const RuntimeApiServer&) = delete;

  // Starts serving; throws SystemError if the address cannot be bound.
  void start();
  // Releases every blocked call, closes every connection. Idempotent.
  void stop();
  std::uint16_t port() const { return http_.port(); }

  // Queues `invocation` for the runtime's next (or current, blocked) invocation/next. Throws
  // thaw::Error when one is already queued or in flight, or the runtime failed or was stopped.
  void submit(Invocation invocation);
  // Releases restore/next (after the snapshot is restored and the guest is fresh again).
  // Throws thaw::Error unless the runtime is waiting there (kRestoreReady).
  void complete_restore();

  RuntimeState state() const;
  // Readable (eventfd, semaphore mode) while events are queued: for the owner's poll/epoll.
  int event_fd() const { return event_fd_.get(); }
  std::optional<RuntimeEvent> poll_event();
  std::optional<RuntimeEvent> wait_event(std::chrono::milliseconds timeout);

 private:
  HttpResponse handle(const HttpRequest& request);
  HttpResponse next_invocation();
  HttpResponse restore_next();
  HttpResponse invocation_result(const HttpRequest& request, std::string_view id, bool is_error);
  HttpResponse init_error(const HttpRequest& request);
  HttpResponse restore_error(const HttpRequest& request);
  HttpResponse forbidden(std::string_view call) const;  // needs mutex_
  void push_event(RuntimeEvent event);                   // needs mutex_

  Options options_;
  HttpServer http_;
  UniqueFd event_fd_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;  // state_, pending_, restore released, stopping
  RuntimeState state_ = RuntimeState::kInit;
  std::optional<Invocation> pending_;  // submitted, not yet handed out
  std::optional<Invocation> current_;  // handed out, no result yet
  bool restore_released_ = false;
  std::deque<RuntimeEvent> events_;
};

}  // namespace thaw::runtime_api
