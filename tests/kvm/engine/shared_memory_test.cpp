// The clones of one snapshot share its decoded pages (memory/shared_image.h): restored at once,
// each in a VMM process of its own as the engine runs them, they answer correctly and each
// with its own randomness, and together they hold little more memory than one clone alone.
// Two of the three run in spare VMM processes (engine/vmm_spares.h), which receive the shared
// copy's descriptors with their first request instead of inheriting them, and build their
// machine in the VM they made while they waited (engine/vmm/vm_shell.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/process_memory.h"
#include "engine/guest_paths.h"
#include "engine/sandbox_process.h"
#include "engine/vmm_child.h"
#include "engine/vmm_protocol.h"
#include "engine/vmm_spares.h"
#include "memory/shared_image.h"
#include "snapshot/page_store_reader.h"
#include "tests/kvm/engine/test_functions.h"

namespace thaw::engine {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<SandboxProcess> restore_clone(const fs::path& snap, std::shared_ptr<memory::SharedImage> image,
                                              Logs& logs, VmmSpares* spares = nullptr) {
  return SandboxProcess::restore({find_vmm_executable(""), nullptr, nullptr, std::move(image), spares}, snap,
                                 logs.options());
}

// How many KVM VMs the process holds.
int vm_fds(pid_t pid) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    std::error_code ec;
    n += fs::read_symlink(e.path(), ec).string() == "anon_inode:kvm-vm";
  }
  return n;
}

nlohmann::json answer(SandboxProcess& s) {
  auto r = s.invoke(request("{}"), std::chrono::seconds(60));
  EXPECT_EQ(r.status, InvokeResult::Status::kSuccess) << r.error_type << " " << r.body;
  return nlohmann::json::parse(r.body);
}

TEST(SharedMemory, ThreeClonesAtOnceAnswerEachForItselfAndShareTheirPages) {
  ASSERT_TRUE(memory::SharedImage::supported()) << "this host kernel has no userfaultfd minor faults on shmem";
  Logs logs;
  fs::path snap = fs::path(testing::TempDir()) / "snap-shared-memory";
  fs::remove_all(snap);
  {
    SandboxOptions o = logs.options();
    o.initialization_type = "snap-start";
    Sandbox::cold_start(image("python-uniqueness"), o)->checkpoint(snap, image("python-uniqueness"));
  }
  auto pages = snapshot::PageStoreReader::open(snap);
  auto image = std::make_shared<memory::SharedImage>(
      memory::SharedImage::create(pages->page_count(), pages->pages_per_chunk(), "test-shared-memory"));

  // One clone alone: it decodes what it touches into the image (and records the working set).
  uint64_t lone_pss = 0;
  {
    auto lone = restore_clone(snap, image, logs);
    answer(*lone);
    lone_pss = process_memory(lone->pid()).pss_bytes;
  }
  EXPECT_GT(image->filled_chunks(), 0u);

  VmmSpares spares(find_vmm_executable(""), 2);
  while (spares.ready() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::vector<std::unique_ptr<SandboxProcess>> clones(3);
  std::vector<std::thread> threads;
  for (auto& c : clones)
    threads.emplace_back([&, clone = &c] { *clone = restore_clone(snap, image, logs, &spares); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(spares.ready(), 0u) << "two clones took the spares (and none was replaced)";
  std::set<std::string> urandom, uuids;
  uint64_t pss = 0;
  for (auto& c : clones) {
    ASSERT_TRUE(c);
    auto body = answer(*c);
    ASSERT_TRUE(body.contains("urandom") && body.contains("uuid4")) << body.dump();
    urandom.insert(body["urandom"].get<std::string>());
    uuids.insert(body["uuid4"].get<std::string>());
    pss += process_memory(c->pid()).pss_bytes;
    EXPECT_EQ(vm_fds(c->pid()), 1) << "a spare's sandbox runs in the VM it made ahead, not in a second one";
  }
  EXPECT_EQ(urandom.size(), 3u) << "each clone draws its own randomness";
  EXPECT_EQ(uuids.size(), 3u);
  EXPECT_LT(pss, 3 * lone_pss) << "three clones: " << (pss >> 20) << " MiB of PSS; one alone: " << (lone_pss >> 20)
                               << " MiB";
  std::printf("PSS: one clone alone %.1f MiB; three at once %.1f MiB (%.2fx)\n", double(lone_pss) / (1 << 20),
              double(pss) / (1 << 20), double(pss) / double(lone_pss));
  clones.clear();
  fs::remove_all(snap);
}

TEST(SharedMemory, ASpareMakesItsSandboxsVmWhileItWaits) {
  VmmChild spare = spawn_ready_spare(find_vmm_executable(""), std::chrono::seconds(120));
  EXPECT_TRUE(spare.vm_made_ahead);
  EXPECT_EQ(vm_fds(spare.pid), 1);
  // The numbers its first request's descriptors take are held, not used by the VM.
  for (int fd : {vmm_protocol::kTapFd, vmm_protocol::kImageDataFd, vmm_protocol::kImageIndexFd})
    EXPECT_EQ(fs::read_symlink("/proc/" + std::to_string(spare.pid) + "/fd/" + std::to_string(fd)), "/dev/null") << fd;
  kill_vmm_child(spare);
}

}  // namespace
}  // namespace thaw::engine
