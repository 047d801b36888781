// Functions on the network end to end (label kvm): a function with allowed destinations gets
// a network card and a namespace of its own, reaches the servers it may and nothing else, and
// a SnapStart clone finds the connection its INIT opened dead (the server never heard of the
// clone), while new connections from it work. (Real databases: database_test.cpp.)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "base/error.h"
#include "base/ip_interface.h"
#include "base/unique_fd.h"
#include "tests/kvm/engine/network_fixture.h"
#include "thaw/engine.h"

namespace thaw {
namespace {
using nlohmann::json;

using test::example_function;
using test::kServerAddress;
constexpr uint16_t kAllowedPort = 7101, kOtherPort = 7102;

// Answers each line on each connection with "echo LINE from PEER" (PEER: the address the
// connection came from), on one thread; counts the connections it accepted.
class LineServer {
 public:
  LineServer(const char* address, uint16_t port) : listener_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    int one = 1;
    ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = ipv4_endpoint(address, port);
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw_errno("bind", address);
    if (::listen(listener_.get(), 16) != 0) throw_errno("listen");
    stop_ = UniqueFd(::eventfd(0, EFD_CLOEXEC));
    thread_ = std::thread([this] { serve(); });
  }
  ~LineServer() {
    uint64_t one = 1;
    if (::write(stop_.get(), &one, sizeof one) != sizeof one) std::abort();
    thread_.join();
  }
  unsigned accepted() const { return accepted_; }

 private:
  struct Connection {
    UniqueFd fd;
    std::string peer, pending;
  };
  void serve() {
    std::map<int, Connection> connections;
    for (;;) {
      std::vector<pollfd> fds = {{stop_.get(), POLLIN, 0}, {listener_.get(), POLLIN, 0}};
      for (const auto& [fd, c] : connections) fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents) return;
      if (fds[1].revents & POLLIN) accept_one(connections);
      for (size_t i = 2; i < fds.size(); ++i)
        if (fds[i].revents && !read_from(connections.at(fds[i].fd))) connections.erase(fds[i].fd);
    }
  }
  void accept_one(std::map<int, Connection>& connections) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    UniqueFd c(::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
    if (!c) return;
    char ip[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
    ++accepted_;
    int fd = c.get();
    connections.emplace(fd, Connection{std::move(c), ip, {}});
  }
  // False when the connection ended.
  bool read_from(Connection& c) {
    char buf[4096];
    ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
    if (n <= 0) return false;
    c.pending.append(buf, size_t(n));
    for (size_t nl; (nl = c.pending.find('\n')) != std::string::npos;) {
      std::string reply = "echo " + c.pending.substr(0, nl) + " from " + c.peer + "\n";
      c.pending.erase(0, nl + 1);
      if (::send(c.fd.get(), reply.data(), reply.size(), MSG_NOSIGNAL) != ssize_t(reply.size())) return false;
    }
    return true;
  }

  UniqueFd listener_, stop_;
  std::atomic<unsigned> accepted_{0};
  std::thread thread_;
};

class EngineNetwork : public test::EngineNetworkTest {
 protected:
  static json exchange(const std::string& host, uint16_t port, const std::string& message) {
    return {{"host", host}, {"port", port}, {"message", message}};
  }
};

// "echo M from 10.200.N.2" -> "10.200.N.1": the host end of that sandbox's uplink.
std::string uplink_host_end(const std::string& reply) {
  auto from = reply.rfind(' ');
  std::string peer = reply.substr(from + 1);
  return peer.substr(0, peer.rfind('.')) + ".1";
}

TEST_F(EngineNetwork, AFunctionReachesItsAllowedServerAndIsRefusedEverythingElse) {
  LineServer allowed(kServerAddress, kAllowedPort), other(kServerAddress, kOtherPort);
  LineServer host_service("0.0.0.0", 9001);  // stands for the engine's API port and host services
  Engine engine(options());
  engine.create_function("net", net_function({std::string(kServerAddress) + ":" + std::to_string(kAllowedPort)}),
                         {.directory = example_function("python-net")});
  auto f = engine.wait_until_ready("net");
  ASSERT_EQ(f.settings.network_allow, std::vector<std::string>{"198.19.0.1:7101"});

  InvokeResult r;
  json reply = call(engine, "net", exchange(kServerAddress, kAllowedPort, "hello"), &r);
  EXPECT_EQ(r.report.start, StartKind::kCold);
  ASSERT_TRUE(reply.contains("reply")) << reply;
  std::string text = reply["reply"];
  EXPECT_EQ(text.rfind("echo hello from 10.200.", 0), 0u) << "masqueraded to its uplink in the host range: " << text;
  EXPECT_EQ(allowed.accepted(), 1u);

  // The same host on a port not allowed, a host service on the sandbox's own uplink, and a
  // host service on the server's address: all refused at once by the sandbox's firewall.
  json refused = call(engine, "net", exchange(kServerAddress, kOtherPort, "x"));
  EXPECT_EQ(refused["error"], "ConnectionRefusedError") << refused;
  refused = call(engine, "net", exchange(uplink_host_end(text), 9001, "x"));
  EXPECT_EQ(refused["error"], "ConnectionRefusedError") << refused;
  refused = call(engine, "net", exchange(kServerAddress, 9001, "x"));
  EXPECT_EQ(refused["error"], "ConnectionRefusedError") << refused;
  EXPECT_EQ(other.accepted(), 0u);
  EXPECT_EQ(host_service.accepted(), 0u);

  // Still the one warm sandbox, and its connections still work after the refusals.
  reply = call(engine, "net", exchange(kServerAddress, kAllowedPort, "again"), &r);
  EXPECT_EQ(r.report.start, StartKind::kWarm);
  std::string uplink = text.substr(text.rfind(' ') + 1);
  EXPECT_EQ(reply["reply"], "echo again from " + uplink) << reply;
  EXPECT_EQ(engine.stats().sandboxes_started_cold, 1u);

  // A second sandbox whose function may reach every sandbox's uplink (the whole host range):
  // its firewall lets the connection out, and on a host that routes between its interfaces (as
  // hosts running Docker do; the test's namespace stands for the host) the first sandbox's
  // namespace refuses it, as it refuses anything it did not ask for. (Where the host does not
  // route, the host drops it before.)
  std::ofstream("/proc/sys/net/ipv4/ip_forward") << "1";
  int forwarding = 0;
  std::ifstream("/proc/sys/net/ipv4/ip_forward") >> forwarding;
  ASSERT_EQ(forwarding, 1);
  engine.create_function("peer", net_function({"10.200.0.0/16"}), {.directory = example_function("python-net")});
  engine.wait_until_ready("peer");
  refused = call(engine, "peer", exchange(uplink, kAllowedPort, "knock"));
  EXPECT_EQ(refused["error"], "ConnectionRefusedError") << refused;
  EXPECT_EQ(engine.stats().sandboxes_started_cold, 2u);
  EXPECT_EQ(allowed.accepted(), 2u);
}

TEST_F(EngineNetwork, ARestoredCloneFindsTheConnectionItsInitOpenedDeadAndOpensNewOnes) {
  LineServer server(kServerAddress, kAllowedPort);
  Engine engine(options());
  auto settings = net_function({std::string(kServerAddress) + ":" + std::to_string(kAllowedPort)},
                               SnapStartApplyOn::kPublishedVersions);
  settings.environment["INIT_CONNECT"] = std::string(kServerAddress) + ":" + std::to_string(kAllowedPort);
  engine.create_function("db", settings, {.directory = example_function("python-net")});
  engine.wait_until_ready("db");
  engine.publish_version("db");
  auto v1 = engine.wait_until_ready("db", "1");
  ASSERT_TRUE(v1.snap_start_optimized) << v1.state_reason;
  EXPECT_EQ(server.accepted(), 1u) << "the INIT before the snapshot connected";

  InvokeResult r;
  json stale = call(engine, "db:1", {{"op", "init"}, {"message", "still there?"}}, &r);
  EXPECT_EQ(r.report.start, StartKind::kRestored);
  // The server answers the clone's segments on a connection it never had with a reset.
  EXPECT_EQ(stale["error"], "ConnectionResetError") << stale;
  json fresh = call(engine, "db:1", exchange(kServerAddress, kAllowedPort, "new"), &r);
  EXPECT_EQ(r.report.start, StartKind::kWarm);
  ASSERT_TRUE(fresh.contains("reply")) << fresh;
  EXPECT_EQ(fresh["reply"].get<std::string>().rfind("echo new from 10.200.", 0), 0u) << fresh;
  EXPECT_EQ(server.accepted(), 2u);
}

}  // namespace
}  // namespace thaw
