// The guest's network card end to end: the test guest brings eth0 up on the virtio-net device
// (found through ACPI), and opens real TCP connections through its TAP to a server this test
// runs on the TAP's host side; then the machine is snapshotted, the TAP closed, and a restored
// clone with a new TAP of the same name carries on with the MAC and address it was saved with.
// The test runs in a network namespace of its own, so its TAP and addresses touch nothing else.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/vmm/machine_state.h"
#include "engine/vmm/net/tap.h"
#include "engine/vmm/vm.h"
#include "memory/guest_memory.h"
#include "memory/lazy_loader.h"
#include "snapshot/page_store_reader.h"
#include "snapshot/page_store_writer.h"
#include "tests/kvm/vmm/test_guest.h"

namespace thaw::vmm {
namespace {

constexpr const char* kTap = "thawtest0";
constexpr const char* kHostIp = "10.200.0.1";
constexpr const char* kGuestIp = "10.200.0.2";
constexpr const char* kMac = "02:fc:00:00:00:2a";
const std::string kMode = std::string("net:") + kGuestIp + ":" + kHostIp;

void send_line(Vm& vm, const std::string& line) {
  std::string l = line + "\n";
  vm.channel().write({reinterpret_cast<const uint8_t*>(l.data()), l.size()});
}

UniqueFd listen_on(const char* ip, uint16_t port) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = parse_ipv4(ip);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw_errno("bind", ip);
  if (::listen(s.get(), 4) != 0) throw_errno("listen");
  return s;
}

// Accepts one connection (within the guest's own timeout), reads the guest's line, answers
// `reply`, closes; returns the line and the peer's address.
std::pair<std::string, std::string> serve_one(int listener, const std::string& reply) {
  pollfd p{listener, POLLIN, 0};
  if (::poll(&p, 1, 300'000) != 1) return {"(no connection)", ""};
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  UniqueFd c(::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
  if (!c) throw_errno("accept4");
  std::string line;
  char ch;
  while (::recv(c.get(), &ch, 1, 0) == 1 && ch != '\n') line += ch;
  std::string out = reply + "\n";
  ::send(c.get(), out.data(), out.size(), MSG_NOSIGNAL);
  char ip[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
  return {line, ip};
}

VmConfig net_config(UniqueFd tap) {
  VmConfig c = config(kMode);
  c.net = VmNetConfig{std::move(tap), parse_mac(kMac), {}};
  return c;
}

UniqueFd host_tap() {
  UniqueFd tap = open_tap(kTap);
  set_interface_mac(kTap, parse_mac("02:fc:ff:ff:ff:fe"));
  set_interface_address(kTap, kHostIp, 24);
  return tap;
}

class VmNet : public testing::Test {
 protected:
  void SetUp() override {
    // Each test is its own process under ctest: the namespace ends with it.
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) needs root: " << std::strerror(errno);
  }
};

TEST_F(VmNet, TheGuestOpensTcpConnectionsToTheHostThroughItsTap) {
  UniqueFd listener = listen_on(kHostIp, 7001);
  Vm vm(net_config(host_tap()));
  ASSERT_NE(vm.net(), nullptr);
  vm.start();
  std::string buffered;
  ASSERT_EQ(read_channel_line(vm, buffered), "READY") << vm.console_log();
  for (int i = 0; i < 2; ++i) {
    send_line(vm, "connect 7001");
    auto [line, peer] = serve_one(listener.get(), "HOST-REPLY-" + std::to_string(i));
    EXPECT_EQ(line, std::string("GUEST ") + kGuestIp + " " + kMac) << vm.console_log();
    EXPECT_EQ(peer, kGuestIp);
    EXPECT_EQ(read_channel_line(vm, buffered), "NET HOST-REPLY-" + std::to_string(i)) << vm.console_log();
  }
  NetCounters c = vm.net()->counters();
  EXPECT_GT(c.tx_frames, 4u) << "ARP, SYN, data, FIN at least";
  EXPECT_GT(c.rx_frames, 4u);
  EXPECT_EQ(c.tx_dropped, 0u);
  send_line(vm, "quit");
  VmExit e = vm.wait();
  EXPECT_EQ(e.reason, ExitReason::kPowerOff) << e.detail << "\n" << vm.console_log();
}

TEST_F(VmNet, ARestoredCloneKeepsItsMacAndAddressOnANewTap) {
  auto dir = std::filesystem::path(testing::TempDir()) / "vm-net-snapshot";
  std::filesystem::remove_all(dir);
  UniqueFd listener = listen_on(kHostIp, 7002);
  std::vector<std::byte> state_bytes;
  {
    Vm vm(net_config(host_tap()));
    vm.start();
    std::string buffered;
    ASSERT_EQ(read_channel_line(vm, buffered), "READY") << vm.console_log();
    send_line(vm, "connect 7002");
    EXPECT_EQ(serve_one(listener.get(), "BEFORE").first, std::string("GUEST ") + kGuestIp + " " + kMac);
    ASSERT_EQ(read_channel_line(vm, buffered), "NET BEFORE") << vm.console_log();
    vm.pause();
    state_bytes = encode_machine_state(vm.save_state());
    std::vector<snapshot::GuestRegion> regions;
    for (const auto& r : vm.memory().regions()) regions.push_back({r.guest_addr, r.bytes()});
    snapshot::write_page_store(dir, regions);
    vm.request_stop(ExitReason::kStopped, "snapshot taken");
    vm.wait();
  }  // the TAP closes with the machine: the name is free for the clone's

  MachineState saved = decode_machine_state(state_bytes);
  ASSERT_NE(saved.device("virtio-net"), nullptr);
  auto reader = snapshot::PageStoreReader::open(dir);
  auto memory = memory::GuestMemory::create(saved.mem_bytes);
  {
    memory::LazyLoader loader(memory, *reader);
    EXPECT_THROW(Vm(config(kMode), memory, saved), Error) << "a saved network card needs a backend";
  }
  memory::LazyLoader loader(memory, *reader);
  VmConfig c = config(kMode);
  c.net = VmNetConfig{host_tap(), parse_mac("02:fc:00:00:00:99"), {}};  // the saved MAC wins
  Vm vm(std::move(c), memory, saved);
  EXPECT_EQ(format_mac(vm.net()->mac()), kMac);
  vm.start();
  std::string buffered;
  send_line(vm, "connect 7002");
  auto [line, peer] = serve_one(listener.get(), "AFTER");
  EXPECT_EQ(line, std::string("GUEST ") + kGuestIp + " " + kMac) << vm.console_log();
  EXPECT_EQ(peer, kGuestIp);
  EXPECT_EQ(read_channel_line(vm, buffered), "NET AFTER") << vm.console_log();
  send_line(vm, "quit");
  VmExit e = vm.wait();
  EXPECT_EQ(e.reason, ExitReason::kPowerOff) << e.detail << "\n" << vm.console_log();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace thaw::vmm
