#pragma once
// A guest without a VM, for the sandbox network's native tests: TAP `eth0` in a network
// namespace of its own, numbered as a real guest is (172.16.0.2/30, the guest MAC, default
// route via 172.16.0.1), and a thread that copies frames between it and the sandbox's tap0,
// as VirtioNet does between the guest's rings and the TAP; it keeps every frame it delivered
// to the guest, for tests of what reaches which sandbox.
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "engine/net/netns.h"
#include "engine/net/sandbox_network.h"
#include "engine/vmm/net/tap.h"

namespace thaw::engine::net::testing {

class FakeGuest {
 public:
  explicit FakeGuest(int sandbox_tap) : ns_(NetNamespace::create()), sandbox_tap_(sandbox_tap) {
    {
      NetnsScope inside(ns_);
      tap_ = vmm::open_tap("eth0");
      set_interface_mac("eth0", vmm::parse_mac(kGuestMac));
      set_interface_address("eth0", kGuestAddress, kGuestPrefix);
      add_default_route(kGatewayAddress);
    }
    stop_ = UniqueFd(::eventfd(0, EFD_CLOEXEC));
    if (!stop_) throw_errno("eventfd");
    pump_ = std::thread([this] { pump(); });
  }
  ~FakeGuest() {
    uint64_t one = 1;
    if (::write(stop_.get(), &one, sizeof one) != sizeof one) std::abort();
    pump_.join();
  }

  // A TCP socket of the guest, connected to `address` (host byte order):`port`; the errno
  // of the connect when it fails.
  int connect(uint32_t address, uint16_t port, UniqueFd* out = nullptr) const {
    UniqueFd s = socket();
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(address);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) return errno;
    if (out) *out = std::move(s);
    return 0;
  }
  // A TCP socket in the guest's namespace.
  UniqueFd socket() const {
    NetnsScope inside(ns_);
    UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s) throw_errno("socket");
    return s;
  }

 // The frames tap0 sent to the guest so far.
  std::vector<std::string> frames_delivered() const {
    std::lock_guard lock(mu_);
    return delivered_;
  }

 private:
  void pump() {
    std::array<char, 65536> frame;
    pollfd fds[3] = {{tap_.get(), POLLIN, 0}, {sandbox_tap_, POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 3, -1) < 0) {
        if (errno == EINTR) continue;
        std::abort();
      }
      if (fds[2].revents) return;
      for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & POLLIN)) continue;
        ssize_t n = ::read(fds[i].fd, frame.data(), frame.size());
        if (n <= 0) continue;
        if (fds[i].fd == sandbox_tap_) {  // kept before it is delivered: a test that saw it arrive finds it kept
          std::lock_guard lock(mu_);
          delivered_.emplace_back(frame.data(), static_cast<size_t>(n));
        }
        // A frame the other side cannot take now is dropped, as a wire would.
        ssize_t sent = ::write(fds[1 - i].fd, frame.data(), static_cast<size_t>(n));
        (void)sent;
      }
    }
  }

  NetNamespace ns_;
  int sandbox_tap_;
  UniqueFd tap_, stop_;
  mutable std::mutex mu_;
  std::vector<std::string> delivered_;
  std::thread pump_;
};

}  // namespace thaw::engine::net::testing
