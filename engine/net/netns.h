#pragma once
// Network namespaces held by fd. A sandbox's namespace lives as long as something holds it:
// this fd, a process that joined it, or a TAP opened in it. Joining one is per thread
// (setns(CLONE_NEWNET) is allowed in a multi-threaded process), so the engine switches a
// single thread for the few calls that must run inside and never the whole process.
#include "base/unique_fd.h"

namespace thaw::engine::net {

class NetNamespace {
 public:
  // A new, empty namespace (only `lo`, down). It is made on a short-lived thread, so the
  // caller's thread stays where it was.
  static NetNamespace create();
  // The calling thread's namespace.
  static NetNamespace current();

  int fd() const { return fd_.get(); }

 private:
  explicit NetNamespace(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// Moves the calling thread into `ns` for the scope's lifetime. Sockets, TAPs and netlink
// sockets opened meanwhile belong to `ns` for good, whatever the thread does later. Switching
// back cannot be allowed to fail: a thread left in a sandbox's namespace would open the
// engine's next sockets there, so a failure to return aborts the process.
class NetnsScope {
 public:
  explicit NetnsScope(const NetNamespace& ns);
  ~NetnsScope();
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;

 private:
  NetNamespace home_;
};

}  // namespace thaw::engine::net
