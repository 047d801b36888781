// Lazy restore of guest memory from a page store through userfaultfd: every touched byte must
// equal the original, whatever the access pattern, and failures must never hang a thread.
#include "memory/lazy_loader.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <csetjmp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "memory/guest_memory.h"
#include "tests/native/memory/test_image.h"
#include "tests/native/memory/test_store.h"

namespace thaw::memory {
namespace {

using test::kPage;
using test::original_is_zero;
using test::page_matches;

constexpr uint64_t kGiB = 1ULL << 30;
constexpr uint64_t kBigPages = kGiB / kPage;
constexpr uint32_t kPagesPerChunk = 16;

std::filesystem::path temp_dir(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("thaw-memory-test-" + std::to_string(::getpid()) + "-" + name);
}

// One 1 GiB page store shared by the tests of this binary (written once).
class LazyLoaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = temp_dir("1g");
    Mapping image = test::make_image(kBigPages);
    store_ = std::make_unique<test::TestStore>(test::write_store(dir_, image.bytes(), kPagesPerChunk));
  }
  static void TearDownTestSuite() {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  const PageSource& source() { return *store_->source; }
  std::span<const RegionBinding> bindings() { return store_->bindings; }

  static std::unique_ptr<test::TestStore> store_;
  static std::filesystem::path dir_;
};
std::unique_ptr<test::TestStore> LazyLoaderTest::store_;
std::filesystem::path LazyLoaderTest::dir_;

// Reads page `p` of `mem` (faulting it in) and compares it with the original.
bool touch_ok(const GuestMemory& mem, uint64_t p) { return page_matches(mem.host_address(p * kPage, kPage), p); }

TEST_F(LazyLoaderTest, SequentialAndRandomAccessFromSeveralThreads) {
  GuestMemory mem = GuestMemory::create(kGiB);
  LazyLoader loader(mem, source(), bindings());
  std::atomic<uint64_t> bad{0}, checked{0};
  std::vector<std::thread> threads;
  // Two threads scan halves sequentially (every page of the GiB); two read random pages.
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (uint64_t p = t * kBigPages / 2; p < (t + 1) * kBigPages / 2; ++p) {
        bad += !touch_ok(mem, p);
        ++checked;
      }
    });
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(42 + t);
      for (int i = 0; i < 20000; ++i) {
        bad += !touch_ok(mem, rng() % kBigPages);
        ++checked;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_EQ(checked.load(), kBigPages + 40000);
  RestoreStats s = loader.stats();
  EXPECT_GT(s.faults, 0u);
  // Fault-around: each chunk is loaded at most once (nothing was removed).
  EXPECT_LE(s.chunks_on_demand + s.zero_chunks_on_demand, source().chunk_count());
  EXPECT_LT(s.faults, kBigPages / 4);
  EXPECT_GT(s.bytes_read, 0u);
  EXPECT_EQ(s.failed_pages, 0u);
}

TEST_F(LazyLoaderTest, ConcurrentFaultsOnOneChunkLoadItOnce) {
  GuestMemory mem = GuestMemory::create(kGiB);
  LazyLoader loader(mem, source(), bindings());
  constexpr int kThreads = 8, kRounds = 20;
  std::vector<uint64_t> chunks;
  for (uint64_t c = 100; chunks.size() < kRounds; c += 37)
    if (source().chunk_extent(c)) chunks.push_back(c);
  std::barrier sync(kThreads);
  std::atomic<uint64_t> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (uint64_t c : chunks) {
        sync.arrive_and_wait();
        // Half the threads hit the same page, the others different pages of the chunk.
        uint64_t p = c * kPagesPerChunk + (t % 2 ? 5 : static_cast<uint64_t>(t));
        bad += !touch_ok(mem, p);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0u);
  RestoreStats s = loader.stats();
  EXPECT_EQ(s.chunks_on_demand, static_cast<uint64_t>(kRounds));
  EXPECT_GE(s.faults, static_cast<uint64_t>(kRounds));
}

TEST_F(LazyLoaderTest, ZeroPagesAreNeverRead) {
  GuestMemory mem = GuestMemory::create(kGiB);
  LazyLoader loader(mem, source(), bindings());
  // Chunks 3, 7, 11, ... are entirely zero.
  uint64_t touched = 0;
  for (uint64_t c = 3; c < source().chunk_count(); c += 4 * 97) {
    for (uint64_t p = c * kPagesPerChunk; p < (c + 1) * kPagesPerChunk; ++p) {
      const std::byte* h = mem.host_address(p * kPage);
      ASSERT_TRUE(std::all_of(h, h + kPage, [](std::byte b) { return b == std::byte{0}; })) << "page " << p;
    }
    ++touched;
  }
  RestoreStats s = loader.stats();
  EXPECT_EQ(s.bytes_read, 0u);
  EXPECT_EQ(s.bytes_installed, 0u);
  EXPECT_EQ(s.zero_chunks_on_demand, touched);
  EXPECT_EQ(s.faults, touched);  // one fault per chunk, the rest zero-filled around it
  EXPECT_EQ(s.zero_bytes_installed, touched * kPagesPerChunk * kPage);

  // Scattered zero pages inside data chunks come back zero too, and writable.
  uint64_t p = 0;
  while (!(original_is_zero(p) && (p / 16) % 4 != 3)) ++p;
  std::byte* h = mem.host_address(p * kPage);
  EXPECT_TRUE(touch_ok(mem, p));
  h[17] = std::byte{0x5a};
  EXPECT_EQ(h[17], std::byte{0x5a});
}

TEST_F(LazyLoaderTest, PagesRemovedByMadviseReadAsZeroAfterwards) {
  GuestMemory mem = GuestMemory::create(kGiB);
  LazyLoader loader(mem, source(), bindings());
  uint64_t c = 40;  // a data chunk
  ASSERT_TRUE(source().chunk_extent(c));
  uint64_t first = c * kPagesPerChunk;
  for (uint64_t p = first; p < first + kPagesPerChunk; ++p) ASSERT_TRUE(touch_ok(mem, p));
  std::byte* base = mem.host_address(first * kPage);
  ASSERT_EQ(::madvise(base + 4 * kPage, 4 * kPage, MADV_DONTNEED), 0);
  // As for any anonymous memory after MADV_DONTNEED: the dropped pages read as zeros...
  for (uint64_t p = first + 4; p < first + 8; ++p) {
    const std::byte* h = mem.host_address(p * kPage);
    EXPECT_TRUE(std::all_of(h, h + kPage, [](std::byte b) { return b == std::byte{0}; })) << "page " << p;
  }
  // ... and the rest of the chunk is untouched.
  for (uint64_t p = first; p < first + kPagesPerChunk; ++p)
    if (p < first + 4 || p >= first + 8) {
      EXPECT_TRUE(touch_ok(mem, p)) << "page " << p;
    }
  base[5 * kPage] = std::byte{7};
  EXPECT_EQ(base[5 * kPage], std::byte{7});
  EXPECT_EQ(loader.stats().pages_removed, 4u);
  EXPECT_EQ(loader.stats().chunks_on_demand, 1u);
}

TEST_F(LazyLoaderTest, PagesRemovedByMadviseCanBeReloadedFromTheSource) {
  GuestMemory mem = GuestMemory::create(kGiB);
  LazyLoaderOptions opt;
  opt.reload_removed = true;
  LazyLoader loader(mem, source(), bindings(), opt);
  uint64_t first = 40 * kPagesPerChunk;
  for (uint64_t p = first; p < first + kPagesPerChunk; ++p) ASSERT_TRUE(touch_ok(mem, p));
  ASSERT_EQ(::madvise(mem.host_address(first * kPage), kPagesPerChunk * kPage, MADV_DONTNEED), 0);
  for (uint64_t p = first; p < first + kPagesPerChunk; ++p) EXPECT_TRUE(touch_ok(mem, p)) << "page " << p;
  EXPECT_EQ(loader.stats().pages_removed, kPagesPerChunk);
  EXPECT_EQ(loader.stats().chunks_on_demand, 2u);
}

TEST_F(LazyLoaderTest, PrefetchRacesWithFaults) {
  GuestMemory mem = GuestMemory::create(kGiB);
  LazyLoader loader(mem, source(), bindings());
  std::mt19937_64 rng(7);
  std::vector<uint64_t> ws;
  for (int i = 0; i < 6000; ++i) ws.push_back(rng() % source().chunk_count());
  std::sort(ws.begin(), ws.end());
  ws.erase(std::unique(ws.begin(), ws.end()), ws.end());
  std::shuffle(ws.begin(), ws.end(), rng);

  std::atomic<uint64_t> bad{0};
  std::barrier go(3);
  // Two consumers fault on the working set from the other end while the prefetcher streams it.
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      go.arrive_and_wait();
      for (size_t i = ws.size(); i-- > 0;) {
        uint64_t p = ws[i] * kPagesPerChunk + (t ? 15 : 0);
        bad += !touch_ok(mem, p);
      }
    });
  go.arrive_and_wait();
  loader.start_prefetch(ws);
  for (auto& th : threads) th.join();
  loader.wait_prefetch();
  EXPECT_EQ(bad.load(), 0u);
  // Every page of the working set is there and right.
  uint64_t faults_before = loader.stats().faults;
  for (uint64_t c : ws)
    for (uint64_t p = c * kPagesPerChunk; p < (c + 1) * kPagesPerChunk; ++p) ASSERT_TRUE(touch_ok(mem, p));
  RestoreStats s = loader.stats();
  EXPECT_EQ(s.faults, faults_before);  // nothing left to fault in
  EXPECT_TRUE(s.prefetch_done);
  // A chunk is loaded by exactly one of the two.
  EXPECT_EQ(s.chunks_prefetched + s.chunks_on_demand + s.zero_chunks_on_demand, ws.size());
}

TEST_F(LazyLoaderTest, RecordedWorkingSetIsPrefetchedNextTime) {
  std::vector<uint64_t> touched_chunks = {900, 12, 13, 5000, 12, 77, 16000, 900};
  std::vector<uint64_t> expected = {900, 12, 13, 5000, 77, 16000};
  std::vector<uint64_t> recorded;
  {
    GuestMemory mem = GuestMemory::create(kGiB);
    LazyLoaderOptions opt;
    opt.record_working_set = true;
    LazyLoader loader(mem, source(), bindings(), opt);
    for (uint64_t c : touched_chunks) ASSERT_TRUE(touch_ok(mem, c * kPagesPerChunk + 3));
    recorded = loader.stop_recording();
    ASSERT_TRUE(touch_ok(mem, 123 * kPagesPerChunk));  // after stop: not recorded
    EXPECT_EQ(loader.working_set(), expected);
  }
  EXPECT_EQ(recorded, expected);

  GuestMemory mem = GuestMemory::create(kGiB);
  LazyLoader loader(mem, source(), bindings());
  loader.wait_prefetch_working_set();  // no prefetch started: returns at once
  loader.start_prefetch(recorded);
  loader.wait_prefetch_working_set();
  EXPECT_TRUE(loader.stats().prefetch_done) << "the working set is in when the wait returns";
  EXPECT_EQ(loader.stats().chunks_prefetched, expected.size());
  loader.wait_prefetch();
  for (uint64_t c : recorded)
    for (uint64_t p = c * kPagesPerChunk; p < (c + 1) * kPagesPerChunk; ++p) ASSERT_TRUE(touch_ok(mem, p));
  RestoreStats s = loader.stats();
  EXPECT_EQ(s.faults, 0u);
  EXPECT_EQ(s.chunks_prefetched, expected.size());
  EXPECT_TRUE(s.prefetch_done);
  EXPECT_THROW(loader.start_prefetch({}), Error);
}

TEST_F(LazyLoaderTest, WithoutFaultAroundEachPageFaults) {
  GuestMemory mem = GuestMemory::create(kGiB);
  LazyLoaderOptions opt;
  opt.fault_around = false;
  LazyLoader loader(mem, source(), bindings(), opt);
  uint64_t first = 44 * kPagesPerChunk;
  for (uint64_t p = first; p < first + kPagesPerChunk; ++p) ASSERT_TRUE(touch_ok(mem, p));
  EXPECT_EQ(loader.stats().faults, kPagesPerChunk);

  GuestMemory mem2 = GuestMemory::create(kGiB);
  LazyLoader around(mem2, source(), bindings());
  for (uint64_t p = first; p < first + kPagesPerChunk; ++p) ASSERT_TRUE(touch_ok(mem2, p));
  EXPECT_EQ(around.stats().faults, 1u);
}

TEST_F(LazyLoaderTest, RejectsBindingsThatDoNotFit) {
  GuestMemory small = GuestMemory::create(16 * kPage);
  RegionBinding too_long{0, 0, 17};
  EXPECT_THROW(LazyLoader(small, source(), std::span<const RegionBinding>(&too_long, 1)), Error);
  RegionBinding past_source{0, kBigPages - 8, 16};
  EXPECT_THROW(LazyLoader(small, source(), std::span<const RegionBinding>(&past_source, 1)), Error);
  LazyLoader ok(small, source(), {});
  EXPECT_THROW(ok.start_prefetch({source().chunk_count()}), Error);
}

// ---- small stores: several regions, load_all, failures, teardown ----------------------------

constexpr uint64_t kSmallPages = 4096;  // 16 MiB

TEST(LazyLoaderSmall, SeveralRegionsAndLoadAll) {
  auto dir = temp_dir("regions");
  Mapping image = test::make_image(kSmallPages);
  test::TestStore store = test::write_store(dir, image.bytes());
  // Two guest regions with a hole between them, bound to the two halves of page space.
  RegionSpec specs[] = {{0, kSmallPages / 2 * kPage}, {1ULL << 32, kSmallPages / 2 * kPage}};
  GuestMemory mem = GuestMemory::create(specs);
  ASSERT_EQ(store.bindings.size(), 1u);
  RegionBinding binds[] = {{0, 0, kSmallPages / 2}, {1ULL << 32, kSmallPages / 2, kSmallPages / 2}};
  {
    LazyLoader loader(mem, *store.source, binds);
    EXPECT_TRUE(page_matches(mem.host_address((1ULL << 32) + 5 * kPage), kSmallPages / 2 + 5));
    loader.load_all();
    RestoreStats s = loader.stats();
    EXPECT_GT(s.chunks_background, 0u);
    EXPECT_EQ(s.faults, 1u);
  }
  // The loader is gone; the memory no longer depends on it.
  for (uint64_t p = 0; p < kSmallPages; ++p) {
    uint64_t gpa = p < kSmallPages / 2 ? p * kPage : (1ULL << 32) + (p - kSmallPages / 2) * kPage;
    ASSERT_TRUE(page_matches(mem.host_address(gpa), p)) << "page " << p;
  }
  std::filesystem::remove_all(dir);
}

TEST(LazyLoaderSmall, BackgroundPassLoadsEverything) {
  auto dir = temp_dir("background");
  Mapping image = test::make_image(kSmallPages);
  test::TestStore store = test::write_store(dir, image.bytes());
  GuestMemory mem = GuestMemory::create(kSmallPages * kPage);
  LazyLoader loader(mem, *store.source, store.bindings);
  loader.start_prefetch({5, 6, 7}, true);
  loader.wait_prefetch();
  for (uint64_t p = 0; p < kSmallPages; ++p) ASSERT_TRUE(page_matches(mem.host_address(p * kPage), p));
  RestoreStats s = loader.stats();
  EXPECT_EQ(s.faults, 0u);
  EXPECT_EQ(s.chunks_prefetched, 3u);
  EXPECT_EQ(s.chunks_prefetched + s.chunks_background, store.source->chunk_count());
  std::filesystem::remove_all(dir);
}

TEST(LazyLoaderSmall, MemfdBackedMemory) {
  auto dir = temp_dir("memfd");
  Mapping image = test::make_image(kSmallPages);
  test::TestStore store = test::write_store(dir, image.bytes());
  GuestMemoryOptions gopt;
  gopt.backing = Backing::memfd;
  GuestMemory mem = GuestMemory::create(kSmallPages * kPage, gopt);
  LazyLoader loader(mem, *store.source, store.bindings);
  for (uint64_t p = 0; p < kSmallPages; p += 7) ASSERT_TRUE(page_matches(mem.host_address(p * kPage), p));
  std::filesystem::remove_all(dir);
}

// Overwrites a few stored bytes of `chunk` in the store file (through /proc/self/fd).
void corrupt_chunk(const PageSource& source, uint64_t chunk) {
  auto ext = source.chunk_extent(chunk);
  ASSERT_TRUE(ext);
  auto path = std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(ext->fd));
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(fd) << path;
  std::vector<std::byte> bytes(ext->length);
  ASSERT_EQ(::pread(fd.get(), bytes.data(), bytes.size(), static_cast<off_t>(ext->offset)),
            static_cast<ssize_t>(bytes.size()));
  for (size_t i = 0; i < bytes.size(); i += 97) bytes[i] ^= std::byte{0xff};
  ASSERT_EQ(::pwrite(fd.get(), bytes.data(), bytes.size(), static_cast<off_t>(ext->offset)),
            static_cast<ssize_t>(bytes.size()));
}

thread_local sigjmp_buf* t_jump = nullptr;
thread_local void* t_fault_addr = nullptr;
thread_local int t_signal = 0;

void on_fault_signal(int sig, siginfo_t* info, void*) {
  if (!t_jump) {  // not ours: die as the default would
    ::signal(sig, SIG_DFL);
    ::raise(sig);
    return;
  }
  t_signal = sig;
  t_fault_addr = info->si_addr;
  siglongjmp(*t_jump, 1);
}

// Reads one byte at `p` on this thread; returns the signal it raised (0 if none).
int read_catching_signal(const volatile std::byte* p, void** fault_addr) {
  sigjmp_buf jump;
  t_jump = &jump;
  t_signal = 0;
  if (sigsetjmp(jump, 1) == 0) {
    (void)*p;
  }
  t_jump = nullptr;
  *fault_addr = t_fault_addr;
  return t_signal;
}

// What the loader reported through its failure callback (called on its threads).
class FailureLog {
 public:
  LazyLoaderOptions options() {
    LazyLoaderOptions o;
    o.on_failure = [this](const LoadFailure& f) {
      std::lock_guard lock(mu_);
      failures_.push_back(f);
    };
    return o;
  }
  std::vector<LoadFailure> all() const {
    std::lock_guard lock(mu_);
    return failures_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<LoadFailure> failures_;
};

// While it lives, SIGBUS and SIGSEGV go to on_fault_signal (read_catching_signal's handler).
class FaultSignals {
 public:
  FaultSignals() {
    struct sigaction sa {};
    sa.sa_sigaction = on_fault_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    EXPECT_EQ(::sigaction(SIGBUS, &sa, &old_bus_), 0);
    EXPECT_EQ(::sigaction(SIGSEGV, &sa, &old_segv_), 0);
  }
  ~FaultSignals() {
    ::sigaction(SIGBUS, &old_bus_, nullptr);
    ::sigaction(SIGSEGV, &old_segv_, nullptr);
  }
  FaultSignals(const FaultSignals&) = delete;
  FaultSignals& operator=(const FaultSignals&) = delete;

 private:
  struct sigaction old_bus_ {}, old_segv_{};
};

// Reads each address in turn on a thread of its own, with the signals caught: every read must
// fail with the loader's signal (SIGBUS with UFFDIO_POISON, else SIGSEGV) at that address.
void expect_reads_fail(const LazyLoader& loader, std::initializer_list<const std::byte*> addrs) {
  std::vector<int> signals;
  std::vector<void*> where;
  {
    FaultSignals catching;
    std::thread victim([&] {
      for (const std::byte* p : addrs) {
        void* at = nullptr;
        signals.push_back(read_catching_signal(p, &at));
        where.push_back(at);
      }
    });
    victim.join();
  }
  int expected = loader.uses_poison() ? SIGBUS : SIGSEGV;
  size_t i = 0;
  for (const std::byte* p : addrs) {
    EXPECT_EQ(signals[i], expected) << "read " << i;
    EXPECT_EQ(where[i], p) << "read " << i;
    ++i;
  }
}

TEST(LazyLoaderSmall, CorruptChunkRaisesSigbusAndCallsBack) {
  auto dir = temp_dir("corrupt");
  Mapping image = test::make_image(kSmallPages);
  test::TestStore store = test::write_store(dir, image.bytes());
  uint64_t bad_chunk = 9;
  corrupt_chunk(*store.source, bad_chunk);

  FailureLog failures;
  LazyLoaderOptions opt = failures.options();
  GuestMemory mem = GuestMemory::create(kSmallPages * kPage);
  LazyLoader loader(mem, *store.source, store.bindings, opt);

  uint64_t bad_page = bad_chunk * 16 + 2;
  while (original_is_zero(bad_page)) ++bad_page;
  std::byte* bad = mem.host_address(bad_page * kPage) + 100;
  expect_reads_fail(loader, {bad, bad});  // the second stays failed: no retry loop, no hang
  {
    auto seen = failures.all();
    ASSERT_GE(seen.size(), 1u);
    EXPECT_EQ(seen[0].chunk, bad_chunk);
    EXPECT_EQ(seen[0].host_address, mem.host_address(bad_page * kPage));
    EXPECT_EQ(seen[0].guest_addr, bad_page * kPage);
    EXPECT_FALSE(seen[0].cause.empty());
  }
  // The rest of the memory is still served.
  EXPECT_TRUE(page_matches(mem.host_address(8 * 16 * kPage), 8 * 16));
  EXPECT_TRUE(page_matches(mem.host_address(10 * 16 * kPage + kPage), 10 * 16 + 1));
  RestoreStats s = loader.stats();
  EXPECT_EQ(s.failed_chunks, 1u);
  EXPECT_EQ(s.failed_pages, 1u);  // the second read hits the poisoned page directly
  EXPECT_THROW(loader.load_all(), PageSourceError);
  std::filesystem::remove_all(dir);
}

// The fault thread's userfaultfd is replaced under it by a descriptor that cannot be read as
// one (a directory): the next fault finds it broken. The owner hears why, and that fault and
// every later access to a page not loaded yet fail with a signal; none waits forever.
TEST(LazyLoaderSmall, BrokenUserfaultfdFailsEveryWaiterLoudly) {
  auto dir = temp_dir("broken-uffd");
  Mapping image = test::make_image(kSmallPages);
  test::TestStore store = test::write_store(dir, image.bytes());
  FailureLog failures;
  LazyLoaderOptions opt = failures.options();
  GuestMemory mem = GuestMemory::create(kSmallPages * kPage);
  LazyLoader loader(mem, *store.source, store.bindings, opt);
  EXPECT_TRUE(page_matches(mem.host_address(3 * 16 * kPage), 3 * 16)) << "served before the break";

  UniqueFd not_a_uffd(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(not_a_uffd);
  ASSERT_GE(::dup2(not_a_uffd.get(), loader.fault_fd_for_testing()), 0);

  const std::byte* first = mem.host_address(20 * 16 * kPage) + 8;
  const std::byte* later = mem.host_address(40 * 16 * kPage + 5 * kPage);
  expect_reads_fail(loader, {first, later});
  {
    auto seen = failures.all();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].chunk, kAllChunks);
    EXPECT_EQ(seen[0].host_address, nullptr);
    EXPECT_NE(seen[0].cause.find("userfaultfd"), std::string::npos) << seen[0].cause;
  }
  EXPECT_TRUE(page_matches(mem.host_address(3 * 16 * kPage), 3 * 16)) << "what was loaded stays";
  EXPECT_GT(loader.stats().failed_pages, 0u);
  std::filesystem::remove_all(dir);
}

#if defined(__SANITIZE_ADDRESS__)
#define THAW_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define THAW_TEST_UNDER_ASAN 1
#endif
#endif

size_t count_entries(const char* dir) {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}
std::vector<std::string> read_lines(const char* file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}
[[maybe_unused]] std::string added_lines(const std::vector<std::string>& before, const std::vector<std::string>& after) {
  std::string out;
  for (auto& l : after)
    if (std::find(before.begin(), before.end(), l) == before.end()) out += l + "\n";
  return out;
}

TEST(LazyLoaderSmall, TeardownLeavesNoFdsThreadsOrMappings) {
  // glibc gives threads malloc arenas lazily and never unmaps them, so how many exist depends on
  // how threads happened to overlap: one arena keeps the count of mappings about thaw's own.
  ::mallopt(M_ARENA_MAX, 1);
  auto dir = temp_dir("teardown");
  Mapping image = test::make_image(kSmallPages);
  test::TestStore store = test::write_store(dir, image.bytes());
  image.reset();
  auto restore_once = [&](int round) {
    GuestMemory mem = GuestMemory::create(kSmallPages * kPage);
    LazyLoader loader(mem, *store.source, store.bindings);
    loader.start_prefetch({1, 2, 3, 40}, round == 1);
    for (uint64_t p = 0; p < kSmallPages; p += 61) ASSERT_TRUE(page_matches(mem.host_address(p * kPage), p));
    if (round == 2) ::madvise(mem.host_address(0), 64 * kPage, MADV_DONTNEED);
  };
  restore_once(0);  // warms up allocator arenas and thread stacks the runtime keeps
  size_t fds = count_entries("/proc/self/fd"), tasks = count_entries("/proc/self/task");
  std::vector<std::string> maps = read_lines("/proc/self/maps");
  for (int round = 0; round < 3; ++round) restore_once(round);
  EXPECT_EQ(count_entries("/proc/self/fd"), fds);
  std::vector<std::string> maps_after = read_lines("/proc/self/maps");
#if !defined(THAW_TEST_UNDER_ASAN)  // ASan's allocator maps new regions of its own as it goes
  EXPECT_EQ(maps_after.size(), maps.size()) << "new mappings:\n" << added_lines(maps, maps_after);
#endif
  // io_uring's kernel workers (iou-wrk) leave the thread group asynchronously after the ring
  // is closed: wait (bounded) for them to go.
  for (int i = 0; i < 500 && count_entries("/proc/self/task") != tasks; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(count_entries("/proc/self/task"), tasks);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace thaw::memory
