#pragma once
// The agent's view of the Runtime API server it runs for the function's runtime: invocations
// go in, and what the runtime does (init done, responses, errors, reaching restore/next) comes
// out as events on one queue the agent's loop polls through an eventfd.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "guest/agent/host_link.h"

namespace thaw::agent {

struct RuntimeEvent {
  enum class Kind { kInitDone, kInitError, kCheckpointReached, kRestoreDone, kRestoreError, kResponse, kFunctionError };
  Kind kind;
  std::string request_id;
  std::string error_type;
  std::string body;
};

class RuntimeApiBridge {
 public:
  // Listens on 127.0.0.1:port; returns once the socket accepts connections (runtime clients
  // give up after about a second, so the server must be up before the runtime starts).
  RuntimeApiBridge(uint16_t port, bool snap_start);
  ~RuntimeApiBridge();

  int event_fd() const { return event_fd_.get(); }
  std::vector<RuntimeEvent> take_events();

  void submit(const Invoke& invoke);
  // Releases the runtime's pending restore/next: the clone is fresh now.
  void release_restore();

 private:
  struct Impl;
  void post(RuntimeEvent e);
  std::unique_ptr<Impl> impl_;
  UniqueFd event_fd_;
  std::mutex mu_;
  std::vector<RuntimeEvent> events_;
};

}  // namespace thaw::agent
