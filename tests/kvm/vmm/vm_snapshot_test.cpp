// Pause, save and restore of the microVM itself (no function, no agent): the test guest answers
// lines on the channel; it is paused between two lines, its memory written to a page store and
// its state encoded, and restored lazily (userfaultfd) into new VMs that carry on the dialogue:
// the first records its working set, the second prefetches it and pre-faults it into stage 2
// (where the host kernel can: Linux 6.11+) before it resumes.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "engine/vmm/machine_state.h"
#include "engine/vmm/vm.h"
#include "memory/guest_memory.h"
#include "memory/lazy_loader.h"
#include "snapshot/page_store_reader.h"
#include "snapshot/page_store_writer.h"
#include "tests/kvm/vmm/test_guest.h"

namespace thaw::vmm {
namespace {

struct Pong {
  std::string word, random;
  double uptime = 0;
};

Pong parse_pong(const std::string& line) {
  std::istringstream in(line);
  std::string tag;
  Pong p;
  in >> tag >> p.word >> p.random >> p.uptime;
  EXPECT_EQ(tag, "PONG") << line;
  return p;
}

std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = std::filesystem::path(testing::TempDir()) / name;
  std::filesystem::remove_all(dir);
  return dir;
}

void send(Vm& vm, const std::string& line) {
  std::string l = line + "\n";
  vm.channel().write({reinterpret_cast<const uint8_t*>(l.data()), l.size()});
}

TEST(VmSnapshot, GuestCarriesOnAfterPauseSaveAndLazyRestore) {
  auto dir = fresh_dir("vm-snapshot");
  std::vector<std::byte> state_bytes;
  Pong before;
  {
    Vm vm(config("pingpong"));
    vm.start();
    std::string buffered;
    ASSERT_EQ(read_channel_line(vm, buffered), "READY") << vm.console_log();
    send(vm, "one");
    before = parse_pong(read_channel_line(vm, buffered));
    ASSERT_EQ(before.word, "one");

    vm.pause();
    MachineState state = vm.save_state();
    ASSERT_EQ(state.vcpus.size(), 1u);
    EXPECT_GT(state.vcpus[0].msrs.size(), 10u);
    state_bytes = encode_machine_state(state);
    std::vector<snapshot::GuestRegion> regions;
    for (const auto& r : vm.memory().regions()) regions.push_back({r.guest_addr, r.bytes()});
    snapshot::write_page_store(dir, regions);
    vm.request_stop(ExitReason::kStopped, "snapshot taken");
    EXPECT_EQ(vm.wait().reason, ExitReason::kStopped);
  }

  MachineState saved = decode_machine_state(state_bytes);
  std::vector<uint64_t> working_set;
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE("restore " + std::to_string(round));
    auto reader = snapshot::PageStoreReader::open(dir);
    auto memory = memory::GuestMemory::create(saved.mem_bytes);
    memory::LazyLoaderOptions lo;
    lo.record_working_set = round == 0;
    memory::LazyLoader loader(memory, *reader, {}, std::move(lo));
    Vm vm(config("pingpong"), memory, saved);
    if (round == 1) {
      ASSERT_FALSE(working_set.empty());
      loader.start_prefetch(working_set);
      loader.wait_prefetch_working_set();
      auto ranges = loader.guest_ranges(working_set);
      uint64_t bytes = 0;
      for (const auto& [gpa, len] : ranges) bytes += len;
      EXPECT_GE(bytes, working_set.size() * memory::kPageSize);
      EXPECT_EQ(vm.pre_fault(ranges), vm.can_pre_fault() ? bytes : 0u);
    }
    vm.start();
    std::string buffered;
    send(vm, "two");
    Pong after = parse_pong(read_channel_line(vm, buffered));
    EXPECT_EQ(after.word, "two") << vm.console_log();
    // The guest's monotonic clock goes on from where it was paused; it did not restart.
    EXPECT_GE(after.uptime, before.uptime);
    send(vm, "quit");
    VmExit e = vm.wait();
    EXPECT_EQ(e.reason, ExitReason::kPowerOff) << e.detail << "\n" << vm.console_log();
    auto stats = loader.stats();
    if (round == 0) {
      EXPECT_GT(stats.faults, 0u) << "memory came in lazily";
    } else {
      EXPECT_GT(stats.chunks_prefetched, 0u) << "the working set came in bulk";  // all-zero chunks aside
      EXPECT_LE(stats.chunks_prefetched, working_set.size());
    }
    EXPECT_LT(stats.bytes_installed, saved.mem_bytes) << "only what the guest touched";
    if (round == 0) working_set = loader.stop_recording();
  }
  std::filesystem::remove_all(dir);
}

TEST(VmSnapshot, RestoreRefusesCpuFeaturesThisHostLacks) {
  Vm vm(config("poweroff"));
  MachineState state = vm.save_state();  // never started: the boot state
  for (auto& e : state.vcpus[0].cpuid)
    if (e.function == 7 && e.index == 0) e.ebx = 0xffffffff;  // every leaf-7 feature, some surely missing
  auto memory = memory::GuestMemory::create(state.mem_bytes);
  try {
    Vm restored(config("poweroff"), memory, state);
    FAIL() << "a machine with CPU features this host lacks was restored";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CPUID.7.0:EBX"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace thaw::vmm
