// thaw::Engine's asynchronous invocations: Event invocations accepted onto the durable queue
// (engine/event_queue.h), delivered by the event workers with Lambda's retries, their outcomes
// sent to the configured destinations (engine/local_queues.h for queues); and the
// EventInvokeConfig control plane.
#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "engine/engine_impl.h"
#include "engine/function_logs.h"
#include "engine/qualifier.h"
#include "restore-hooks/host_hooks.h"

namespace thaw {
using engine::FunctionRecord;
using engine::QualifierKind;
using engine::QueuedEvent;

namespace {

constexpr size_t kMaxEventPayload = 1024 * 1024;

// The key of a qualifier's configuration: "$LATEST" for the unqualified function.
std::string config_key(const engine::FunctionRef& ref) {
  return ref.kind == QualifierKind::kNone || ref.kind == QualifierKind::kLatest ? std::string(engine::kLatest)
                                                                                 : ref.qualifier;
}

[[noreturn]] void no_config(const std::string& arn) {
  throw EngineError(ErrorCode::kNotFound, "The function " + arn + " doesn't have an EventInvokeConfig");
}

// The payload as JSON where it is JSON (Lambda's payloads are), else as a string.
nlohmann::json as_json(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? nlohmann::json(text) : j;
}

}  // namespace

std::string Engine::invoke_async(const InvokeRequest& request) {
  auto ref = engine::parse_function_ref(request.function, request.qualifier);
  if (request.payload.size() > kMaxEventPayload)
    throw EngineError(ErrorCode::kTooLarge,
                      "Request must be smaller than 1048576 bytes for the InvokeFunction operation with Event invocation type");
  {
    std::lock_guard lock(impl_->mu);
    impl_->resolve(impl_->record_of(ref.name), ref);  // ResourceNotFoundException before it is accepted
  }
  QueuedEvent e;
  e.id = request.request_id.empty() ? hooks::new_uuid_v4() : request.request_id;
  e.function = ref.name;
  e.qualifier = ref.qualifier;
  e.payload = request.payload;
  e.accepted_ms = e.due_ms = engine::now_ms();
  try {
    impl_->events.push(e);
  } catch (const SystemError& x) {
    throw EngineError(ErrorCode::kInternal, std::string("the event could not be queued: ") + x.what());
  }
  ++impl_->async.received;
  return e.id;
}

AsyncStats Engine::async_stats() const {
  const auto& c = impl_->async;
  AsyncStats s{c.received, c.succeeded, c.failed, c.retried, c.to_destination, c.dropped, impl_->events.size(), 0};
  if (auto oldest = impl_->events.oldest_accepted_ms()) s.oldest_age_ms = std::max<int64_t>(0, engine::now_ms() - *oldest);
  return s;
}

void Engine::Impl::start_event_workers(Engine& engine) {
  for (unsigned i = 0; i < options.async.workers; ++i)
    event_workers.emplace_back([this, &engine] {
      while (auto e = events.take()) {
        const std::string id = e->id;
        try {
          deliver_event(engine, std::move(*e));
        } catch (const std::exception& x) {
          // The queue's own write failed (a full disk): the event stays on disk, leased until the
          // engine opens the directory again.
          spdlog::error("event {}: {}; it is delivered again when the engine restarts", id, x.what());
        }
      }
    });
}

void Engine::Impl::stop_event_workers() {
  events.stop();
  for (auto& w : event_workers)
    if (w.joinable()) w.join();
}

std::optional<EventInvokeConfig> Engine::Impl::event_config_of(const QueuedEvent& e) {
  std::lock_guard lock(mu);
  auto it = records.find(e.function);
  if (it == records.end()) return std::nullopt;
  auto c = it->second.event_invoke.find(config_key(engine::parse_function_ref(e.function, e.qualifier)));
  return c == it->second.event_invoke.end() ? EventInvokeConfig{} : c->second;
}

std::chrono::milliseconds Engine::Impl::retry_delay(unsigned attempt, bool function_error) const {
  // Lambda: about a minute, then two, after a function error; a throttle or an engine error
  // backs off from a second, doubling, to five minutes.
  double s = function_error ? 60.0 * attempt : std::min(300.0, std::pow(2.0, double(attempt) - 1));
  return std::chrono::milliseconds(int64_t(s * 1000 * options.async.retry_delay_scale));
}

void Engine::Impl::deliver_event(Engine& engine, QueuedEvent e) {
  auto config = event_config_of(e);
  if (!config) {  // the function was deleted: nothing can run it
    ++async.dropped;
    spdlog::warn("event {} dropped: function {} no longer exists", e.id, e.function);
    events.done(e.id);
    return;
  }
  const int64_t max_age_ms = int64_t(config->maximum_event_age_s) * 1000;
  if (engine::now_ms() - e.accepted_ms > max_age_ms) return finish_event(engine, e, *config, "EventAgeExceeded", {});
  std::optional<InvokeResult> r;
  try {
    r = engine.invoke({.function = e.function, .qualifier = e.qualifier, .payload = e.payload, .request_id = e.id});
  } catch (const EngineError& x) {
    if (x.code() == ErrorCode::kNotFound || x.code() == ErrorCode::kInvalidParameter) {
      ++async.dropped;
      spdlog::warn("event {} of {} dropped: {}", e.id, e.function, x.what());
      events.done(e.id);
      return;
    }
    ++e.engine_errors;  // throttled, not ready, no sandbox: again later, while the event is young enough
    auto delay = retry_delay(e.engine_errors, false);
    if (engine::now_ms() + delay.count() - e.accepted_ms > max_age_ms)
      return finish_event(engine, e, *config, "EventAgeExceeded", {});
    e.due_ms = engine::now_ms() + delay.count();
    ++async.retried;
    spdlog::info("event {} of {} not run ({}): tried again in {} ms", e.id, e.function, x.what(), delay.count());
    events.retry(e);
    return;
  }
  ++e.deliveries;
  if (r->function_error.empty()) return finish_event(engine, e, *config, "Success", r);
  ++e.function_errors;
  spdlog::info("event {} of {}: {} ({}), invocation {} of at most {}", e.id, e.function, r->error_type,
               r->payload.substr(0, 300), e.deliveries, config->maximum_retry_attempts + 1);
  if (e.function_errors > config->maximum_retry_attempts)
    return finish_event(engine, e, *config, "RetriesExhausted", r);
  auto delay = retry_delay(e.function_errors, true);
  if (engine::now_ms() + delay.count() - e.accepted_ms > max_age_ms)
    return finish_event(engine, e, *config, "EventAgeExceeded", r);
  e.due_ms = engine::now_ms() + delay.count();
  ++async.retried;
  events.retry(e);
}

std::string Engine::Impl::destination_record(const QueuedEvent& e, const std::string& condition,
                                             const std::optional<InvokeResult>& r) const {
  nlohmann::json j = {{"version", "1.0"},
                      {"timestamp", engine::now_iso8601()},
                      {"requestContext",
                       {{"requestId", e.id},
                        {"functionArn", engine::function_arn(options.region, options.account_id, e.function,
                                                             e.qualifier.empty() ? engine::kLatest : e.qualifier)},
                        {"condition", condition},
                        {"approximateInvokeCount", e.deliveries}}},
                      {"requestPayload", as_json(e.payload)}};
  if (r) {
    j["responseContext"] = {{"statusCode", 200}, {"executedVersion", r->executed_version}};
    if (!r->function_error.empty()) j["responseContext"]["functionError"] = r->function_error;
    j["responsePayload"] = as_json(r->payload);
  }
  return j.dump();
}

void Engine::Impl::finish_event(Engine& engine, const QueuedEvent& e, const EventInvokeConfig& config,
                                const std::string& condition, const std::optional<InvokeResult>& r) {
  const bool success = condition == "Success";
  ++(success ? async.succeeded : async.failed);
  const std::string& destination = success ? config.on_success : config.on_failure;
  bool kept = success && destination.empty();  // a success needs no record
  if (!destination.empty()) {
    try {
      auto record = destination_record(e, condition, r);
      if (auto queue = engine::queue_name_of_arn(destination))
        queues.send(*queue, record);
      else
        engine.invoke_async({.function = destination, .payload = record});
      ++async.to_destination;
      kept = true;
    } catch (const std::exception& x) {
      spdlog::warn("event {} of {} ({}): its destination {} failed: {}", e.id, e.function, condition, destination,
                   x.what());
    }
  }
  if (!success) kept = send_dead_letter(e, condition, r) || kept;
  if (!kept) {
    ++async.dropped;
    spdlog::warn("event {} of {} dropped ({}, after {} invocation(s)): no on-failure destination or dead-letter queue "
                 "took it", e.id, e.function, condition, e.deliveries);
  }
  events.done(e.id);
}

bool Engine::Impl::send_dead_letter(const QueuedEvent& e, const std::string& condition,
                                    const std::optional<InvokeResult>& r) {
  std::string target;
  {
    std::lock_guard lock(mu);
    auto it = records.find(e.function);
    if (it == records.end()) return false;
    try {
      target = resolve(it->second, engine::parse_function_ref(e.function, e.qualifier)).settings.dead_letter_target;
    } catch (const EngineError&) {
      return false;  // the version or alias went
    }
  }
  auto queue = engine::queue_name_of_arn(target);
  if (!queue) return false;
  // As Lambda's dead letter: the event itself, the why in its attributes.
  std::string message = condition;
  if (r && !r->function_error.empty()) {
    auto j = as_json(r->payload);
    if (j.is_object() && j.contains("errorMessage") && j["errorMessage"].is_string()) message = j["errorMessage"];
  }
  try {
    queues.send(*queue, e.payload, {{"RequestID", e.id}, {"ErrorCode", "200"}, {"ErrorMessage", message}});
    return true;
  } catch (const std::exception& x) {
    spdlog::warn("event {} of {}: its dead-letter queue {} failed: {}", e.id, e.function, target, x.what());
    return false;
  }
}

// The control plane of EventInvokeConfig.

namespace {

void check_destination(const std::string& arn, const std::string& what) {
  if (arn.empty() || engine::queue_name_of_arn(arn)) return;
  if (arn.starts_with("arn:aws:lambda:")) {
    engine::parse_function_ref(arn);  // kInvalidParameter for a malformed one
    return;
  }
  throw EngineError(ErrorCode::kInvalidParameter,
                    "The " + what + " destination " + arn +
                        " is neither a function nor a queue (arn:aws:sqs:... or arn:thaw:queue:...): thaw delivers "
                        "to those only");
}

}  // namespace

EventInvokeConfig Engine::put_event_invoke_config(const std::string& function, const std::string& qualifier,
                                                  const EventInvokeConfigUpdate& u, bool replace) {
  auto ref = engine::parse_function_ref(function, qualifier);
  std::lock_guard lock(impl_->mu);
  auto& r = impl_->record_of(ref.name);
  impl_->resolve(r, ref);
  const auto key = config_key(ref);
  auto existing = r.event_invoke.find(key);
  if (!replace && existing == r.event_invoke.end())
    no_config(engine::function_arn(impl_->options.region, impl_->options.account_id, r.name, key));
  EventInvokeConfig c = replace ? EventInvokeConfig{} : existing->second;
  c.function = r.name;
  c.qualifier = key;
  if (u.maximum_retry_attempts) c.maximum_retry_attempts = *u.maximum_retry_attempts;
  if (u.maximum_event_age_s) c.maximum_event_age_s = *u.maximum_event_age_s;
  if (u.on_success) c.on_success = *u.on_success;
  if (u.on_failure) c.on_failure = *u.on_failure;
  if (c.maximum_retry_attempts > 2)
    throw EngineError(ErrorCode::kInvalidParameter, "MaximumRetryAttempts must be between 0 and 2");
  if (c.maximum_event_age_s < 60 || c.maximum_event_age_s > 21600)
    throw EngineError(ErrorCode::kInvalidParameter, "MaximumEventAgeInSeconds must be between 60 and 21600");
  check_destination(c.on_success, "OnSuccess");
  check_destination(c.on_failure, "OnFailure");
  c.last_modified = engine::now_iso8601();
  FunctionRecord next = r;
  next.event_invoke[key] = c;
  impl_->persist(next);
  r = std::move(next);
  return c;
}

EventInvokeConfig Engine::get_event_invoke_config(const std::string& function, const std::string& qualifier) const {
  auto ref = engine::parse_function_ref(function, qualifier);
  std::lock_guard lock(impl_->mu);
  const auto& r = impl_->record_of(ref.name);
  auto it = r.event_invoke.find(config_key(ref));
  if (it == r.event_invoke.end())
    no_config(engine::function_arn(impl_->options.region, impl_->options.account_id, r.name, config_key(ref)));
  return it->second;
}

std::vector<EventInvokeConfig> Engine::list_event_invoke_configs(const std::string& function) const {
  auto ref = engine::parse_function_ref(function);
  std::lock_guard lock(impl_->mu);
  std::vector<EventInvokeConfig> out;
  for (const auto& [q, c] : impl_->record_of(ref.name).event_invoke) out.push_back(c);
  return out;
}

void Engine::delete_event_invoke_config(const std::string& function, const std::string& qualifier) {
  auto ref = engine::parse_function_ref(function, qualifier);
  std::lock_guard lock(impl_->mu);
  auto& r = impl_->record_of(ref.name);
  const auto key = config_key(ref);
  if (!r.event_invoke.contains(key))
    no_config(engine::function_arn(impl_->options.region, impl_->options.account_id, r.name, key));
  FunctionRecord next = r;
  next.event_invoke.erase(key);
  impl_->persist(next);
  r = std::move(next);
}

}  // namespace thaw
