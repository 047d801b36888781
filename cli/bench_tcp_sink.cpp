#include "cli/bench_tcp_sink.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <chrono>
#include <string>

#include "base/error.h"
#include "base/ip_interface.h"
#include "cli/bench_stats.h"

namespace thaw::cli {

TcpSink::TcpSink(const std::string& address, uint16_t port)
    : listener_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), stop_(::eventfd(0, EFD_CLOEXEC)) {
  if (!listener_) throw_errno("socket", "bench net sink");
  if (!stop_) throw_errno("eventfd", "bench net sink");
  int one = 1;
  ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = ipv4_endpoint(address, port);
  if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    throw_errno("bind", address + ":" + std::to_string(port));
  if (::listen(listener_.get(), 4) != 0) throw_errno("listen", "bench net sink");
  thread_ = std::thread([this] { serve(); });
}

TcpSink::~TcpSink() {
  uint64_t one = 1;
  if (::write(stop_.get(), &one, sizeof one) != sizeof one) std::terminate();
  thread_.join();
}

std::vector<TcpSink::Run> TcpSink::take_runs() {
  std::lock_guard lock(mu_);
  return std::exchange(runs_, {});
}

void TcpSink::serve() {
  for (;;) {
    pollfd fds[2] = {{stop_.get(), POLLIN, 0}, {listener_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[0].revents) return;
    UniqueFd c(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (c) drain(c.get());
  }
}

void TcpSink::drain(int connection) {
  auto t0 = std::chrono::steady_clock::now();
  static thread_local char buf[1 << 16];
  uint64_t bytes = 0;
  for (;;) {
    pollfd fds[2] = {{stop_.get(), POLLIN, 0}, {connection, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[0].revents) return;
    ssize_t n = ::recv(connection, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;  // reset: not a run
    if (n == 0) break;
    bytes += static_cast<uint64_t>(n);
  }
  double ms = ms_since(t0);
  std::string reply = std::to_string(bytes) + "\n";
  (void)::send(connection, reply.data(), reply.size(), MSG_NOSIGNAL);
  std::lock_guard lock(mu_);
  runs_.push_back({bytes, ms});
}

}  // namespace thaw::cli
