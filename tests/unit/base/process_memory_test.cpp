// A process's memory from /proc/PID/smaps_rollup: private pages count whole in its PSS, pages
// it shares with another process count half.
#include "base/process_memory.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "base/error.h"

namespace thaw {
namespace {

constexpr size_t kSize = 32 << 20;

TEST(ProcessMemory, PrivatePagesCountWholeInPss) {
  auto before = process_memory(::getpid());
  void* p = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  std::memset(p, 1, kSize);
  auto after = process_memory(::getpid());
  ::munmap(p, kSize);
  EXPECT_GE(after.pss_bytes, before.pss_bytes + kSize * 9 / 10);
  EXPECT_GE(after.private_bytes, before.private_bytes + kSize * 9 / 10);
  EXPECT_GE(after.rss_bytes, after.pss_bytes);
}

TEST(ProcessMemory, PagesSharedWithAChildCountHalf) {
  void* p = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  std::memset(p, 1, kSize);
  auto alone = process_memory(::getpid());
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // touches every page of the shared mapping, then waits to be killed
    volatile char sum = 0;
    for (size_t i = 0; i < kSize; i += 4096) sum = static_cast<char>(sum + static_cast<char*>(p)[i]);
    (void)!::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  auto shared = process_memory(::getpid());
  auto theirs = process_memory(child);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  ::munmap(p, kSize);
  EXPECT_LE(shared.pss_bytes + kSize * 4 / 10, alone.pss_bytes) << "half the shared pages are the child's now";
  EXPECT_GE(shared.shared_bytes, kSize * 9 / 10);
  EXPECT_GE(theirs.pss_bytes, kSize * 4 / 10);
}

TEST(ProcessMemory, NoSuchProcessIsAnErrorNamingTheFile) {
  try {
    process_memory(0x3fffffff);
    FAIL() << "no error";
  } catch (const SystemError& e) {
    EXPECT_NE(std::string(e.what()).find("smaps_rollup"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace thaw
