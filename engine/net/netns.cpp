#include "engine/net/netns.h"

#include <fcntl.h>
#include <sched.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>

#include "base/error.h"

namespace thaw::engine::net {
namespace {

UniqueFd open_thread_netns() {
  UniqueFd fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", "/proc/thread-self/ns/net");
  return fd;
}

}  // namespace

NetNamespace NetNamespace::create() {
  UniqueFd fd;
  std::exception_ptr failure;
  std::thread maker([&] {
    try {
      if (::unshare(CLONE_NEWNET) != 0) throw_errno("unshare(CLONE_NEWNET)", "a sandbox's network namespace (needs CAP_SYS_ADMIN)");
      fd = open_thread_netns();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  maker.join();
  if (failure) std::rethrow_exception(failure);
  return NetNamespace(std::move(fd));
}

NetNamespace NetNamespace::current() { return NetNamespace(open_thread_netns()); }

NetnsScope::NetnsScope(const NetNamespace& ns) : home_(NetNamespace::current()) {
  if (::setns(ns.fd(), CLONE_NEWNET) != 0) throw_errno("setns(CLONE_NEWNET)", "a sandbox's network namespace");
}

NetnsScope::~NetnsScope() {
  if (::setns(home_.fd(), CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "thaw: setns back to the engine's network namespace failed: %s\n", std::strerror(errno));
    std::abort();
  }
}

}  // namespace thaw::engine::net
