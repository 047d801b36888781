#pragma once
// Asynchronous invocations (InvocationType Event) as Lambda runs them: accepted onto a durable
// queue, delivered by the engine's event workers, a function error retried
// MaximumRetryAttempts times (about 1, then 2 minutes later), a throttle or engine error retried
// with backoff until the event is MaximumEventAgeInSeconds old; then its outcome goes to the
// on-success or on-failure destination (another function, invoked asynchronously with Lambda's
// destination record, or a local queue), or the event is counted as dropped.
#include <cstdint>
#include <optional>
#include <string>

namespace thaw {

// PutFunctionEventInvokeConfig's configuration of one function version or alias.
struct EventInvokeConfig {
  std::string function, qualifier;  // qualifier "$LATEST" for the unqualified function
  unsigned maximum_retry_attempts = 2;   // 0 to 2
  unsigned maximum_event_age_s = 21600;  // 60 to 21,600
  // Destination ARNs; empty: none. A function (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:Q])
  // or a local queue (arn:aws:sqs:REGION:ACCOUNT:NAME or arn:thaw:queue:REGION:ACCOUNT:NAME).
  std::string on_success, on_failure;
  std::string last_modified;  // ISO 8601
};

// What a Put replaces (all of it) or an Update changes (only what is set).
struct EventInvokeConfigUpdate {
  std::optional<unsigned> maximum_retry_attempts{}, maximum_event_age_s{};
  std::optional<std::string> on_success{}, on_failure{};
};

struct AsyncOptions {
  unsigned workers = 4;  // threads delivering events; 0: events wait (a control-plane-only engine)
  // Multiplies Lambda's retry delays: 60 s then 120 s after a function error; 1 s doubling to
  // 5 min after a throttle or an engine error. Tests make them small.
  double retry_delay_scale = 1.0;
};

// The queue's counts since the engine started, and what is queued now.
struct AsyncStats {
  uint64_t received = 0;        // accepted (durable) events
  uint64_t succeeded = 0;       // delivered with a success
  uint64_t failed = 0;          // out of retries or too old
  uint64_t retried = 0;         // deliveries that will be tried again
  uint64_t to_destination = 0;  // outcomes delivered to a destination
  uint64_t dropped = 0;         // failed without a destination, or whose destination failed
  uint64_t queued = 0;          // on disk now, delivered or waiting
  int64_t oldest_age_ms = 0;    // of the oldest queued event; 0: none
};

}  // namespace thaw
