// The virtio-net device against hand-built rings, backed by a datagram socketpair standing in
// for the TAP: one datagram is one Ethernet frame, as one read or write of a TAP is.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "engine/vmm/devices/virtio_net.h"
#include "tests/unit/vmm/fake_guest.h"

namespace thaw::vmm {
namespace {

constexpr uint32_t kMacFeature = 1u << 5;
constexpr uint64_t kRx = kBase + 0x3000;  // rx rings: desc at kRx, avail +0x200, used +0x400
constexpr uint64_t kRxAvail = kRx + 0x200, kRxUsed = kRx + 0x400;
constexpr size_t kHeader = 12;

struct Backend {
  UniqueFd device_end, test_end;
  Backend() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) throw_errno("socketpair");
    device_end.reset(sv[0]);
    test_end.reset(sv[1]);
  }
};

struct NetDriver : MmioDriver {
  Backend backend;
  int interrupts = 0;
  VirtioNet dev;

  explicit NetDriver(NetRateLimit limit = {})
      : dev(g.view, std::move(backend.device_end), parse_mac("02:fc:00:00:00:07"), [this] { ++interrupts; }, limit) {
    device = &dev;
  }
  // A frame of `len` bytes (after the header) on transmit descriptor `i`, available as slot `i`.
  void post_tx(uint16_t i, uint32_t len) {
    uint64_t addr = kData + 0x2000 + 0x100ull * i;
    std::memset(g.at(addr), 'a' + i, kHeader + len);
    g.desc(i, addr, kHeader + len, 0, 0);
    g.avail(i, i, static_cast<uint16_t>(i + 1));
  }
  void bring_up() {
    negotiate(1, kMacFeature);
    setup_queue(0, kRx, kRxAvail, kRxUsed);
    setup_queue(1, kDesc, kAvail, kUsed);
    driver_ok();
  }
  // A receive buffer of `len` bytes at `addr` in rx descriptor `i`, made available as slot `i`.
  void post_rx(uint16_t i, uint64_t addr, uint32_t len) {
    std::byte* p = g.at(kRx + 16ull * i);
    uint16_t flags = kVirtqDescFWrite, next = 0;
    std::memcpy(p, &addr, 8);
    std::memcpy(p + 8, &len, 4);
    std::memcpy(p + 12, &flags, 2);
    std::memcpy(p + 14, &next, 2);
    g.avail(i, i, static_cast<uint16_t>(i + 1), kRxAvail);
  }
  void send_from_host(const std::string& frame) {
    ASSERT_EQ(::send(backend.test_end.get(), frame.data(), frame.size(), 0), static_cast<ssize_t>(frame.size()));
  }
  std::string received_on_host() {
    char buf[70000];
    ssize_t n = ::recv(backend.test_end.get(), buf, sizeof buf, MSG_DONTWAIT);
    return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
  }
};

TEST(VirtioNet, OffersItsMacAndCarriesFramesBothWays) {
  NetDriver d;
  d.bring_up();
  uint8_t mac[6];
  d.dev.read(0x100, mac);
  EXPECT_EQ(format_mac({mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]}), "02:fc:00:00:00:07");

  // Guest -> host: the header in one descriptor, the frame split over two more.
  std::memset(d.g.at(kData), 0, kHeader);
  std::memcpy(d.g.at(kData + 0x100), "ethernet-", 9);
  std::memcpy(d.g.at(kData + 0x200), "frame", 5);
  d.g.desc(0, kData, kHeader, kVirtqDescFNext, 1);
  d.g.desc(1, kData + 0x100, 9, kVirtqDescFNext, 2);
  d.g.desc(2, kData + 0x200, 5, 0, 0);
  d.g.avail(0, 0, 1);
  // Host -> guest: one frame, one buffer as Linux posts it (header + 1518 bytes).
  d.send_from_host("reply-frame");
  d.post_rx(0, kData + 0x1000, kHeader + 1518);
  d.dev.process();

  EXPECT_EQ(d.received_on_host(), "ethernet-frame");
  EXPECT_EQ(d.g.used_idx(), 1);
  ASSERT_EQ(d.g.used_idx(kRxUsed), 1);
  EXPECT_EQ(d.g.used_len(0, kRxUsed), kHeader + 11);
  uint16_t num_buffers;
  std::memcpy(&num_buffers, d.g.at(kData + 0x1000 + 10), 2);
  EXPECT_EQ(num_buffers, 1);
  EXPECT_EQ(std::memcmp(d.g.at(kData + 0x1000 + kHeader), "reply-frame", 11), 0);
  EXPECT_GE(d.interrupts, 1);
  NetCounters c = d.dev.counters();
  EXPECT_EQ(c.tx_frames, 1u);
  EXPECT_EQ(c.tx_bytes, 14u);
  EXPECT_EQ(c.rx_frames, 1u);
  EXPECT_EQ(c.rx_bytes, 11u);
  EXPECT_FALSE(d.dev.broken());
}

// A frame that arrives before the guest posts a buffer waits in the device (one frame; the
// rest stay in the backend) and goes out with the next buffer.
TEST(VirtioNet, AFrameWaitsForTheGuestsNextBuffer) {
  NetDriver d;
  d.bring_up();
  d.send_from_host("first");
  d.send_from_host("second");
  d.dev.process();
  EXPECT_EQ(d.g.used_idx(kRxUsed), 0);
  d.post_rx(0, kData, 2048);
  d.dev.process();
  ASSERT_EQ(d.g.used_idx(kRxUsed), 1);
  EXPECT_EQ(std::memcmp(d.g.at(kData + kHeader), "first", 5), 0);
  d.post_rx(1, kData + 0x1000, 2048);
  d.dev.process();
  ASSERT_EQ(d.g.used_idx(kRxUsed), 2);
  EXPECT_EQ(std::memcmp(d.g.at(kData + 0x1000 + kHeader), "second", 6), 0);
  EXPECT_EQ(d.dev.counters().rx_dropped, 0u);
}

// Frames that do not fit are dropped and counted; the guest gets its buffer back unused.
TEST(VirtioNet, DropsWhatDoesNotFitAndKeepsGoing) {
  NetDriver d;
  d.bring_up();
  d.send_from_host(std::string(100, 'x'));
  d.post_rx(0, kData, kHeader + 50);
  d.dev.process();
  ASSERT_EQ(d.g.used_idx(kRxUsed), 1);
  EXPECT_EQ(d.g.used_len(0, kRxUsed), 0u);
  // A transmit chain shorter than the header.
  d.g.desc(0, kData + 0x2000, 8, 0, 0);
  d.g.avail(0, 0, 1);
  d.dev.process();
  EXPECT_EQ(d.g.used_idx(), 1);
  EXPECT_EQ(d.received_on_host(), "");
  NetCounters c = d.dev.counters();
  EXPECT_EQ(c.rx_dropped, 1u);
  EXPECT_EQ(c.tx_dropped, 1u);
  EXPECT_FALSE(d.dev.broken());
}

TEST(VirtioNet, AHostileRingMarksTheDeviceBroken) {
  NetDriver d;
  d.bring_up();
  d.g.desc(0, kData, 16, kVirtqDescFNext, 0);  // a chain that loops onto itself
  d.g.avail(0, 0, 1);
  d.dev.process();
  EXPECT_TRUE(d.dev.broken());
  EXPECT_TRUE(d.r32(0x70) & kVirtioStatusNeedsReset);
}

// The section brings the transport and the MAC the guest read back into a device built with
// another MAC and another backend, as a restored clone's is.
TEST(VirtioNet, SectionKeepsTheSavedMacAndRefusesOtherVersions) {
  NetDriver d;
  d.bring_up();
  auto section = d.dev.save_section();
  Backend other;
  FakeGuest g;
  VirtioNet fresh(g.view, std::move(other.device_end), parse_mac("02:fc:00:00:00:99"), [] {});
  fresh.restore_section(d.dev.snapshot_version(), section);
  EXPECT_TRUE(fresh.driver_ok());
  EXPECT_EQ(format_mac(fresh.mac()), "02:fc:00:00:00:07");
  EXPECT_EQ(VirtioNet::ring_ranges(section).size(), 6u);
  EXPECT_THROW(fresh.restore_section(d.dev.snapshot_version() + 1, section), Error);
  section.pop_back();
  EXPECT_THROW(fresh.restore_section(d.dev.snapshot_version(), section), Error);
}

TEST(TokenBucket, PassesTheBurstThenTheRate) {
  using namespace std::chrono_literals;
  auto t0 = TokenBucket::Clock::time_point{} + 1h;
  TokenBucket b({1000, 200}, t0);  // 1000 bytes/s, 200 bytes of burst
  EXPECT_TRUE(b.take(150, t0));
  EXPECT_FALSE(b.take(100, t0)) << "50 left";
  EXPECT_EQ(b.wait_for(100, t0), std::chrono::nanoseconds(50'000'001));
  EXPECT_TRUE(b.take(100, t0 + 50ms));
  EXPECT_FALSE(b.take(1, t0 + 50ms));
  EXPECT_TRUE(b.take(5000, t0 + 10s)) << "larger than the burst: from a full bucket";
  EXPECT_FALSE(b.take(1, t0 + 10s));
  TokenBucket none({}, t0);
  EXPECT_FALSE(none.limited());
  EXPECT_TRUE(none.take(1'000'000'000, t0));
}

// Over its rate, a frame stays in the guest's ring (back-pressure), and goes once the tokens
// are there. Pausing the card sends whatever the guest made available, charged to the bucket,
// so the frames after the resume wait until that debt is paid.
TEST(VirtioNet, TheRateLimitHoldsFramesInTheGuestsRing) {
  NetDriver d({1000, 100});
  d.bring_up();
  d.post_tx(0, 80);
  d.post_tx(1, 80);
  d.dev.process();
  EXPECT_EQ(d.received_on_host().size(), 80u);
  EXPECT_EQ(d.received_on_host(), "") << "the second frame waits for tokens";
  EXPECT_EQ(d.g.used_idx(), 1);
  EXPECT_EQ(d.dev.counters().tx_throttled, 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // 80 bytes at 1000/s: 80 ms
  d.dev.process();
  EXPECT_EQ(d.received_on_host(), std::string(80, 'b'));
  EXPECT_EQ(d.g.used_idx(), 2);

  d.post_tx(2, 90);
  d.dev.process();  // the bucket is empty again: held
  EXPECT_EQ(d.g.used_idx(), 2);
  d.post_tx(3, 90);
  d.dev.stop();
  EXPECT_EQ(d.g.used_idx(), 4) << "a pause leaves the transmit ring empty";
  EXPECT_EQ(d.received_on_host(), std::string(90, 'c'));
  EXPECT_EQ(d.received_on_host(), std::string(90, 'd'));
  EXPECT_EQ(d.dev.counters().tx_dropped, 0u);

  d.post_tx(4, 10);
  d.dev.process();
  EXPECT_EQ(d.g.used_idx(), 4) << "180 bytes of debt: the next frame waits for them";
  EXPECT_EQ(d.received_on_host(), "");
}

// A pause puts the frames the guest queued on the wire: the last segments of a connection it
// closed just before a snapshot reach the peer, and no clone finds them in its ring.
TEST(VirtioNet, APauseSendsWhatTheGuestQueued) {
  NetDriver d;
  d.bring_up();
  d.post_tx(0, 40);
  d.post_tx(1, 50);
  d.dev.stop();
  EXPECT_EQ(d.received_on_host(), std::string(40, 'a'));
  EXPECT_EQ(d.received_on_host(), std::string(50, 'b'));
  EXPECT_EQ(d.g.used_idx(), 2);
  EXPECT_EQ(d.dev.counters().tx_frames, 2u);
}

TEST(VirtioNet, MacAddressesParseStrictly) {
  EXPECT_EQ(format_mac(parse_mac("0a:1B:2c:3d:4e:5f")), "0a:1b:2c:3d:4e:5f");
  for (const char* bad : {"", "02:fc:00:00:00", "02:fc:00:00:00:02:", "02-fc-00-00-00-02", "zz:fc:00:00:00:02"})
    EXPECT_THROW(parse_mac(bad), Error) << bad;
}

}  // namespace
}  // namespace thaw::vmm
