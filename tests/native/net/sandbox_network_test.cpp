// A sandbox's network end to end without a VM (fake_guest.h stands in for the guest): real
// namespaces, veths, TAPs and nftables on this machine's kernel. Needs root, as the engine
// does. The host ranges are in 198.18.0.0/15 (set aside for benchmarking, RFC 2544), with
// links "thawtest-N" (and a few of their own), so nothing here collides with a real engine's sandboxes or the host's
// own network (TEST-NET-1 is this machine's own LAN); test processes running side by side
// claim different slots.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/net/network_pool.h"
#include "engine/net/sandbox_network.h"
#include "fake_guest.h"

namespace thaw::engine::net {
namespace {

HostRange test_range() { return parse_host_range("198.18.0.0/24", "thawtest-"); }
// A range and link names of one test's own, for a test that checks its links are gone: in the
// shared range a test running beside it (ctest -j) may claim a freed slot, and its link name,
// at once.
HostRange own_range(const char* third_octet, const char* prefix) {
  return parse_host_range(std::string("198.18.") + third_octet + ".0/24", prefix);
}

bool host_link_exists(const std::string& name) { return ::if_nametoindex(name.c_str()) != 0; }

// A TCP listener on the host, on every address, at a port the kernel picks.
struct Listener {
  UniqueFd fd;
  uint16_t port = 0;

  Listener() : fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (!fd) throw_errno("socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    socklen_t len = sizeof a;
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw_errno("bind");
    if (::listen(fd.get(), 8) != 0) throw_errno("listen");
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) throw_errno("getsockname");
    port = ntohs(a.sin_port);
  }
  // The source address of the next connection, host byte order.
  uint32_t accept_peer() {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    UniqueFd c(::accept4(fd.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
    if (!c) throw_errno("accept4");
    return ntohl(peer.sin_addr.s_addr);
  }
};

AllowedDestination to(uint32_t address, uint16_t port) { return {address, 32, port}; }

TEST(SandboxNetwork, EachSandboxHasItsOwnUplinkAndGivesItBack) {
  std::string first, second;
  {
    auto a = SandboxNetwork::create(own_range("2", "thawgive-"));
    auto b = SandboxNetwork::create(own_range("2", "thawgive-"));
    EXPECT_NE(a->slot(), b->slot());
    EXPECT_NE(a->inside_address(), b->inside_address());
    first = a->host_link();
    second = b->host_link();
    EXPECT_TRUE(host_link_exists(first));
    EXPECT_TRUE(host_link_exists(second));
    EXPECT_GE(a->tap_fd(), 0);
  }
  EXPECT_FALSE(host_link_exists(first));
  EXPECT_FALSE(host_link_exists(second));
}

TEST(SandboxNetwork, GuestReachesOnlyAllowedDestinationsAndPeersSeeItsUplinkAddress) {
  auto net = SandboxNetwork::create(test_range());
  testing::FakeGuest guest(net->tap_fd());
  Listener allowed, other;
  // Nothing is allowed yet: refused at once (a TCP reset), not left to time out.
  EXPECT_EQ(guest.connect(net->host_address(), allowed.port), ECONNREFUSED);

  std::vector<AllowedDestination> allow = {to(net->host_address(), allowed.port)};
  net->allow(allow);
  UniqueFd conn;
  ASSERT_EQ(guest.connect(net->host_address(), allowed.port, &conn), 0);
  EXPECT_EQ(allowed.accept_peer(), net->inside_address()) << "the uplink is masqueraded";
  const char ping[] = "ping";
  EXPECT_EQ(::send(conn.get(), ping, 4, MSG_NOSIGNAL), 4);

  EXPECT_EQ(guest.connect(net->host_address(), other.port), ECONNREFUSED) << "another port of an allowed host";
  net->allow({});
  EXPECT_EQ(guest.connect(net->host_address(), allowed.port), ECONNREFUSED) << "the allow-list was emptied";
}

TEST(SandboxNetwork, SandboxesCannotReachEachOther) {
  auto a = SandboxNetwork::create(test_range());
  auto b = SandboxNetwork::create(test_range());
  testing::FakeGuest guest_a(a->tap_fd());
  testing::FakeGuest guest_b(b->tap_fd());
  Listener server;
  std::vector<AllowedDestination> allow_a = {to(a->host_address(), server.port)};
  a->allow(allow_a);
  // b's uplink address, even on a port a may use on its own host end.
  EXPECT_EQ(guest_a.connect(b->inside_address(), server.port), ECONNREFUSED);
  // Both guests have the same address; each reaches only its own namespace's rules.
  EXPECT_EQ(guest_a.connect(a->host_address(), server.port), 0);
  EXPECT_EQ(guest_b.connect(a->host_address(), server.port), ECONNREFUSED);
}

// B's conversation with the host (both ways) never shows on A's TAP, though both guests have
// the same address and MAC.
TEST(SandboxNetwork, ASandboxsTrafficNeverAppearsOnAnothersTap) {
  auto a = SandboxNetwork::create(test_range());
  auto b = SandboxNetwork::create(test_range());
  testing::FakeGuest guest_a(a->tap_fd());
  testing::FakeGuest guest_b(b->tap_fd());
  Listener server;
  std::vector<AllowedDestination> allow = {to(b->host_address(), server.port)};
  b->allow(allow);
  a->allow(allow);
  UniqueFd conn;
  ASSERT_EQ(guest_b.connect(b->host_address(), server.port, &conn), 0);
  UniqueFd accepted(::accept4(server.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted);
  const std::string ask = "from-b-7f3a", answer = "to-b-91c2";
  ASSERT_EQ(::send(conn.get(), ask.data(), ask.size(), MSG_NOSIGNAL), ssize_t(ask.size()));
  std::string got(ask.size(), '\0');
  ASSERT_EQ(::recv(accepted.get(), got.data(), got.size(), MSG_WAITALL), ssize_t(ask.size()));
  EXPECT_EQ(got, ask);
  ASSERT_EQ(::send(accepted.get(), answer.data(), answer.size(), MSG_NOSIGNAL), ssize_t(answer.size()));
  got.assign(answer.size(), '\0');
  ASSERT_EQ(::recv(conn.get(), got.data(), got.size(), MSG_WAITALL), ssize_t(answer.size()));
  EXPECT_EQ(got, answer);

  auto carries = [](const std::vector<std::string>& frames, const std::string& text) {
    return std::any_of(frames.begin(), frames.end(), [&](const std::string& f) { return f.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(carries(guest_b.frames_delivered(), answer)) << "B's own TAP carried the answer";
  auto on_a = guest_a.frames_delivered();
  EXPECT_FALSE(carries(on_a, answer));
  EXPECT_FALSE(carries(on_a, ask));
  // A opened no connection: no TCP segment at all may reach it (IPv4 ethertype, protocol 6).
  EXPECT_EQ(std::count_if(on_a.begin(), on_a.end(),
                          [](const std::string& f) { return f.size() > 23 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 6; }),
            0);
}

TEST(SandboxNetwork, NothingReachesTheSandboxUnasked) {
  auto net = SandboxNetwork::create(test_range());
  // A listener inside the sandbox's namespace, on every address.
  UniqueFd inside;
  {
    NetnsScope in(net->netns());
    inside = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  }
  ASSERT_TRUE(inside);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(4242);
  ASSERT_EQ(::bind(inside.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(inside.get(), 1), 0);
  UniqueFd host(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(4242);
  dst.sin_addr.s_addr = htonl(net->inside_address());
  int rc = ::connect(host.get(), reinterpret_cast<sockaddr*>(&dst), sizeof dst);
  int err = errno;
  EXPECT_NE(rc, 0);
  EXPECT_EQ(err, ECONNREFUSED) << "refused at once by the namespace's input chain";
}

TEST(SandboxNetwork, AFullRangeIsAClearError) {
  HostRange one = parse_host_range("198.18.1.0/30", "thawfull-");
  auto taken = SandboxNetwork::create(one);
  try {
    SandboxNetwork::create(one);
    FAIL() << "a second network in a one-slot range";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no free sandbox network slot in host range 198.18.1.0/30"),
              std::string::npos)
        << e.what();
  }
}

TEST(SandboxNetwork, ARangeTheHostUsesIsRefused) {
  try {
    SandboxNetwork::create(parse_host_range("127.0.0.0/16", "thawlo-"));
    FAIL() << "a range inside the host's loopback network";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("overlaps this host's network (lo has 127.0.0.1/8)"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(host_link_exists("thawlo-0"));
}

TEST(NetworkPool, KeepsNetworksReadyAndRefillsWhatIsTaken) {
  std::set<std::string> links;
  {
    NetworkPool pool({own_range("3", "thawpool-"), 2});
    EXPECT_EQ(pool.wait_filled(), "");
    EXPECT_EQ(pool.ready_count(), 2u);
    auto a = pool.take();
    auto b = pool.take();
    auto c = pool.take();  // none ready: made on this thread
    links = {a->host_link(), b->host_link(), c->host_link()};
    EXPECT_EQ(links.size(), 3u);
    EXPECT_EQ(pool.wait_filled(), "");
    EXPECT_EQ(pool.ready_count(), 2u);
    testing::FakeGuest guest(c->tap_fd());
    Listener server;
    std::vector<AllowedDestination> allow = {to(c->host_address(), server.port)};
    c->allow(allow);
    EXPECT_EQ(guest.connect(c->host_address(), server.port), 0);
  }
  for (const std::string& l : links) EXPECT_FALSE(host_link_exists(l)) << l;
}

TEST(NetworkPool, SaysWhyItCannotFill) {
  HostRange one = parse_host_range("198.18.1.4/30", "thawfill-");
  auto taken = SandboxNetwork::create(one);
  NetworkPool pool({one, 1});
  EXPECT_NE(pool.wait_filled().find("no free sandbox network slot"), std::string::npos);
  EXPECT_THROW(pool.take(), Error);
}

}  // namespace
}  // namespace thaw::engine::net
