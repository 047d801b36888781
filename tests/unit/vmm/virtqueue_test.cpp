// The descriptor walker and the virtio-console device against hand-built (often hostile) rings
// in a plain buffer standing in for guest memory.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "base/error.h"
#include "engine/vmm/devices/serial.h"
#include "engine/vmm/devices/virtio_console.h"
#include "engine/vmm/devices/virtqueue.h"
#include "tests/unit/vmm/fake_guest.h"

namespace thaw::vmm {
namespace {

TEST(DescriptorWalker, WalksAChainOfReadableThenWritableBuffers) {
  FakeGuest g;
  g.desc(0, kData, 100, kVirtqDescFNext, 3);
  g.desc(3, kData + 100, 50, kVirtqDescFNext | kVirtqDescFWrite, 5);
  g.desc(5, kData + 200, 10, kVirtqDescFWrite, 0);
  DescriptorChain c = walk_descriptor_chain(g.view, kDesc, kQ, 0);
  ASSERT_EQ(c.buffers.size(), 3u);
  EXPECT_EQ(c.readable_bytes, 100u);
  EXPECT_EQ(c.writable_bytes, 60u);
  EXPECT_EQ(c.buffers[1].host, g.at(kData + 100));
  EXPECT_TRUE(c.buffers[2].device_writable);
}

TEST(DescriptorWalker, RejectsHostileChains) {
  FakeGuest g;
  // A loop: 0 -> 1 -> 0.
  g.desc(0, kData, 8, kVirtqDescFNext, 1);
  g.desc(1, kData, 8, kVirtqDescFNext, 0);
  EXPECT_THROW(walk_descriptor_chain(g.view, kDesc, kQ, 0), VirtqueueError);
  // A self loop.
  g.desc(2, kData, 8, kVirtqDescFNext, 2);
  EXPECT_THROW(walk_descriptor_chain(g.view, kDesc, kQ, 2), VirtqueueError);
  // next out of range; head out of range.
  g.desc(3, kData, 8, kVirtqDescFNext, kQ);
  EXPECT_THROW(walk_descriptor_chain(g.view, kDesc, kQ, 3), VirtqueueError);
  EXPECT_THROW(walk_descriptor_chain(g.view, kDesc, kQ, kQ), VirtqueueError);
  // Buffers outside guest memory: below, beyond the end, straddling the end, wrapping around 2^64.
  g.desc(4, kBase - 16, 8, 0, 0);
  EXPECT_THROW(walk_descriptor_chain(g.view, kDesc, kQ, 4), VirtqueueError);
  g.desc(4, kBase + kSize, 1, 0, 0);
  EXPECT_THROW(walk_descriptor_chain(g.view, kDesc, kQ, 4), VirtqueueError);
  g.desc(4, kBase + kSize - 4, 8, 0, 0);
  EXPECT_THROW(walk_descriptor_chain(g.view, kDesc, kQ, 4), VirtqueueError);
  g.desc(4, ~0ull - 2, 0xffffffffu, 0, 0);
  EXPECT_THROW(walk_descriptor_chain(g.view, kDesc, kQ, 4), VirtqueueError);
  // Indirect descriptors were not offered.
  g.desc(5, kData, 16, kVirtqDescFIndirect, 0);
  EXPECT_THROW(walk_descriptor_chain(g.view, kDesc, kQ, 5), VirtqueueError);
  // Readable after writable.
  g.desc(6, kData, 8, kVirtqDescFWrite | kVirtqDescFNext, 7);
  g.desc(7, kData, 8, 0, 0);
  EXPECT_THROW(walk_descriptor_chain(g.view, kDesc, kQ, 6), VirtqueueError);
  // A descriptor table that is itself outside guest memory.
  EXPECT_THROW(walk_descriptor_chain(g.view, kBase + kSize - 16, kQ, 0), VirtqueueError);
}

TEST(Virtqueue, PopsAvailableChainsAndPublishesUsedOnes) {
  FakeGuest g;
  QueueState q{kQ, true, kDesc, kAvail, kUsed, 0, 0};
  validate_queue(g.view, q, 256);
  Virtqueue vq(g.view, q);
  EXPECT_FALSE(vq.pop());
  g.desc(2, kData, 32, kVirtqDescFWrite, 0);
  g.avail(0, 2, 1);
  auto c = vq.pop();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->head, 2);
  vq.push_used(c->head, 17);
  EXPECT_EQ(g.used_idx(), 1);
  EXPECT_EQ(g.used_len(0), 17u);
  EXPECT_FALSE(vq.pop());
  // The driver claims more entries than the queue holds.
  g.avail(1, 0, static_cast<uint16_t>(1 + kQ + 1));
  EXPECT_THROW(vq.pop(), VirtqueueError);
}

TEST(Virtqueue, ValidateRejectsBadLayouts) {
  FakeGuest g;
  EXPECT_THROW(validate_queue(g.view, {0, false, kDesc, kAvail, kUsed, 0, 0}, 256), VirtqueueError);
  EXPECT_THROW(validate_queue(g.view, {6, false, kDesc, kAvail, kUsed, 0, 0}, 256), VirtqueueError);
  EXPECT_THROW(validate_queue(g.view, {512, false, kDesc, kAvail, kUsed, 0, 0}, 256), VirtqueueError);
  EXPECT_THROW(validate_queue(g.view, {kQ, false, kDesc + 1, kAvail, kUsed, 0, 0}, 256), VirtqueueError);
  EXPECT_THROW(validate_queue(g.view, {kQ, false, kDesc, kAvail, kBase + kSize - 8, 0, 0}, 256), VirtqueueError);
  EXPECT_THROW(validate_queue(g.view, {kQ, false, 0x100000, kAvail, kUsed, 0, 0}, 256), VirtqueueError);
}

// The console as Linux's driver brings it up.
struct ConsoleDriver : MmioDriver {
  int interrupts = 0;
  VirtioConsole dev{g.view, [this] { ++interrupts; }};
  static constexpr uint64_t kRx = kBase + 0x3000;  // rx rings: desc at kRx, avail +0x200, used +0x400

  ConsoleDriver() { device = &dev; }
  void bring_up() {
    negotiate(3, 0);
    setup_queue(0, kRx, kRx + 0x200, kRx + 0x400);
    setup_queue(1, kDesc, kAvail, kUsed);
    driver_ok();
  }
};

TEST(VirtioConsole, MovesBytesBothWays) {
  ConsoleDriver d;
  d.bring_up();
  // Guest -> host: one readable buffer on the transmit queue.
  std::memcpy(d.g.at(kData), "hello", 5);
  d.g.desc(0, kData, 5, 0, 0);
  d.g.avail(0, 0, 1);
  // Host -> guest: two writable buffers of 4 bytes on the receive queue; 6 bytes pending.
  uint64_t rx_desc = ConsoleDriver::kRx;
  auto rx_d = [&](uint16_t i, uint64_t addr) {
    std::byte* p = d.g.at(rx_desc + 16ull * i);
    uint32_t len = 4;
    uint16_t flags = kVirtqDescFWrite, next = 0;
    std::memcpy(p, &addr, 8);
    std::memcpy(p + 8, &len, 4);
    std::memcpy(p + 12, &flags, 2);
    std::memcpy(p + 14, &next, 2);
  };
  rx_d(0, kData + 0x100);
  rx_d(1, kData + 0x200);
  d.g.avail(0, 0, 2, ConsoleDriver::kRx + 0x200);
  d.g.avail(1, 1, 2, ConsoleDriver::kRx + 0x200);
  const uint8_t msg[] = {'a', 'b', 'c', 'd', 'e', 'f'};
  d.dev.write(msg);
  d.dev.process();

  std::vector<uint8_t> got(16);
  size_t n = d.dev.read(got, std::chrono::milliseconds(0));
  ASSERT_EQ(n, 5u);
  EXPECT_EQ(std::string(got.begin(), got.begin() + 5), "hello");
  EXPECT_EQ(d.g.used_idx(), 1);
  EXPECT_EQ(d.g.used_idx(ConsoleDriver::kRx + 0x400), 2);
  EXPECT_EQ(d.g.used_len(0, ConsoleDriver::kRx + 0x400), 4u);
  EXPECT_EQ(d.g.used_len(1, ConsoleDriver::kRx + 0x400), 2u);
  EXPECT_EQ(std::memcmp(d.g.at(kData + 0x100), "abcd", 4), 0);
  EXPECT_EQ(std::memcmp(d.g.at(kData + 0x200), "ef", 2), 0);
  EXPECT_GE(d.interrupts, 1);
  EXPECT_EQ(d.r32(0x60) & 1, 1u);
  EXPECT_FALSE(d.dev.broken());
}

// Its own snapshot section: a brought-up console with bytes pending comes back into a fresh
// device as it was, and the rings it names are the ones the driver set up.
TEST(VirtioConsole, SectionRoundTripsIntoAFreshDevice) {
  ConsoleDriver d;
  d.bring_up();
  const uint8_t msg[] = {'x', 'y', 'z'};
  d.dev.write(msg);
  auto section = d.dev.save_section();
  ConsoleDriver fresh;
  fresh.dev.restore_section(d.dev.snapshot_version(), section);
  EXPECT_TRUE(fresh.dev.driver_ok());
  EXPECT_EQ(fresh.dev.pending_bytes(), (std::vector<uint8_t>{'x', 'y', 'z'}));
  EXPECT_EQ(fresh.dev.save_section(), section);
  auto rings = VirtioConsole::ring_ranges(section);
  ASSERT_EQ(rings.size(), 6u);
  EXPECT_EQ(rings[0].first, ConsoleDriver::kRx);
  EXPECT_EQ(rings[3].first, kDesc);

  EXPECT_THROW(fresh.dev.restore_section(d.dev.snapshot_version() + 1, section), Error) << "unknown version";
  section.pop_back();
  EXPECT_THROW(fresh.dev.restore_section(d.dev.snapshot_version(), section), Error) << "truncated";
}

TEST(Serial, SectionRoundTripsAndRefusesOtherVersions) {
  Serial a([](uint8_t) {}, [] {});
  uint8_t lcr = 0x03, scratch = 0x5a;
  a.write(3, {&lcr, 1});
  a.write(7, {&scratch, 1});
  const uint8_t in[] = {'q'};
  a.enqueue_input(in);
  Serial b([](uint8_t) {}, [] {});
  b.restore_section(a.snapshot_version(), a.save_section());
  EXPECT_EQ(b.state().lcr, 0x03);
  EXPECT_EQ(b.state().scr, 0x5a);
  EXPECT_EQ(b.state().rx.size(), 1u);
  EXPECT_EQ(b.save_section(), a.save_section());
  EXPECT_THROW(b.restore_section(2, a.save_section()), Error);
}

TEST(VirtioConsole, HostileRingMarksTheDeviceBrokenNotTheHost) {
  ConsoleDriver d;
  d.bring_up();
  d.g.desc(0, kData, 8, kVirtqDescFNext, 1);
  d.g.desc(1, kData, 8, kVirtqDescFNext, 0);  // loop
  d.g.avail(0, 0, 1);
  d.dev.process();
  EXPECT_TRUE(d.dev.broken());
  EXPECT_TRUE(d.r32(0x70) & kVirtioStatusNeedsReset);
  EXPECT_TRUE(d.r32(0x60) & 2);  // configuration change interrupt
  // A broken device does no more work; a reset brings it back.
  d.dev.process();
  d.w32(0x70, 0);
  EXPECT_FALSE(d.dev.broken());
  EXPECT_EQ(d.r32(0x70), 0u);
}

TEST(VirtioConsole, RingsOutsideGuestMemoryAreRefusedAtQueueReady) {
  ConsoleDriver d;
  d.w32(0x70, kVirtioStatusAcknowledge | kVirtioStatusDriver);
  d.setup_queue(1, kBase + kSize - 16, kAvail, kUsed);
  EXPECT_TRUE(d.dev.broken());
  d.w32(0x30, 1);
  EXPECT_EQ(d.r32(0x44), 0u);
}

TEST(VirtioConsole, FeaturesWithoutVersion1AreRefused) {
  ConsoleDriver d;
  d.w32(0x70, kVirtioStatusAcknowledge | kVirtioStatusDriver);
  d.w32(0x70, kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk);
  EXPECT_FALSE(d.r32(0x70) & kVirtioStatusFeaturesOk);
}

}  // namespace
}  // namespace thaw::vmm
