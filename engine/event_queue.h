#pragma once
// The durable queue of accepted asynchronous (Event) invocations. An event is a file of its own
// (`DATA/events/<request id>.json`, written with write_file_atomic: temp, fsync, rename,
// directory fsync) before push() returns, so the 202 that follows is a promise a kill -9 cannot
// break: a queue opened on the same directory after a crash holds every event accepted and not
// yet finished. An event leaves the queue only by done(), after its final outcome (success, a
// destination written, or counted as dropped) is recorded. Delivery is at least once: an event
// a crash interrupted is delivered again, with the same request id, so a function can
// deduplicate.
//
// Workers take() the event due first; a taken event is leased to that worker until it calls
// retry() (written back with its new counts and due time) or done(). Thread-safe.
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>

namespace thaw::engine {

struct QueuedEvent {
  std::string id;  // the request id, the same at every delivery
  std::string function, qualifier, payload;
  int64_t accepted_ms = 0;         // when it was accepted: its age counts from here
  int64_t due_ms = 0;              // not delivered before this
  unsigned function_errors = 0;    // deliveries that ended in a function error
  unsigned deliveries = 0;         // invocations that ran it (Lambda's approximateInvokeCount)
  unsigned engine_errors = 0;      // attempts refused before it ran: throttled, no sandbox
};

class EventQueue {
 public:
  // Opens (creating) `dir` and loads the events in it; a file that is not an event (torn by a
  // crash before its rename, or foreign) is set aside as *.corrupt with a warning.
  explicit EventQueue(std::filesystem::path dir);

  // Durable when it returns; throws SystemError (the caller answers an error, not 202).
  void push(const QueuedEvent& e);
  // Blocks until an event is due and not leased (then leases it), or stop().
  std::optional<QueuedEvent> take();
  // A leased event back in the queue with its new counts and due time (durable).
  void retry(const QueuedEvent& e);
  // A leased event's final outcome is recorded: it leaves the queue.
  void done(const std::string& id);

  size_t size() const;
  // The accepted time of the oldest event queued (for the age metric); nullopt when empty.
  std::optional<int64_t> oldest_accepted_ms() const;
  void stop();

 private:
  std::filesystem::path file_of(const std::string& id) const;
  void load();

  std::filesystem::path dir_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Caller holds mu_. An event not leased is in waiting_; every event is in by_age_.
  void index(const QueuedEvent& e);
  void unindex(const QueuedEvent& e);

  std::map<std::string, QueuedEvent> events_;
  // take() and the age metric in O(log n) with many events queued: (due, accepted, id) of the
  // events not leased, and (accepted, id) of all.
  std::set<std::tuple<int64_t, int64_t, std::string>> waiting_;
  std::set<std::pair<int64_t, std::string>> by_age_;
  bool stopping_ = false;
};

std::string to_json(const QueuedEvent& e);
// Throws thaw::Error naming what is missing.
QueuedEvent queued_event_from_json(const std::string& text);

}  // namespace thaw::engine
