// Lazy restore of guest memory (memory/ + the page store of snapshot/).
//
// The guest image: 2 MiB blocks, about a third of them "used" (90 % of their pages hold data:
// 1.5 KiB of noise and a repeating pattern, ~2.5:1 under lz4), the rest zero. The working set
// is ~5 % of the pages, scattered the way REAP measured real functions: runs of 2-3 pages with
// gaps of 0-2 pages, inside 256 KiB hot areas spread over the used blocks; a single consumer
// thread (the "vCPU") reads one word of each working-set page, area by area.
//
// Each benchmark times one restore: from creating the guest memory until the whole working set
// has been read once (manual time; the store is written once, outside timing, and stays in the
// page cache). Counters: faults (userfaultfd faults served) and bytes_read (stored bytes read);
// the prefetch runs also give prefetch_ms (restore start until the recorded working set was
// installed) and install_GBps (bytes installed / prefetch_ms), to compare with UffdCopyBulk.
// Stores are written with snapshot::write_page_store (lz4, 16 pages per chunk) into $TMPDIR.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "base/error.h"
#include "memory/guest_memory.h"
#include "memory/io_uring_reader.h"
#include "memory/lazy_loader.h"
#include "memory/userfaultfd.h"
#include "tests/native/memory/test_store.h"

namespace {

using namespace thaw::memory;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kPage = 4096;
constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kBlockPages = 512;  // 2 MiB
constexpr uint64_t kAreaPages = 64;    // hot area: 256 KiB

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

bool block_used(uint64_t block) { return block < 16 || mix(block ^ 0xb10c) % 100 < 33; }
bool page_has_data(uint64_t p) { return block_used(p / kBlockPages) && mix(p ^ 0x9a9e) % 10 != 0; }

void fill_page(uint64_t p, std::byte* out) {
  uint64_t w[kPage / 8];
  uint64_t s = mix(p);
  for (size_t i = 0; i < 192; ++i) w[i] = s = mix(s);
  for (size_t i = 192; i < kPage / 8; ++i) w[i] = (p << 16) | (i & 15);
  std::memcpy(out, w, kPage);
}

// Working set: `target` pages in hot areas of used blocks below `limit_pages`, in touch order.
std::vector<uint64_t> make_working_set(uint64_t limit_pages, uint64_t target) {
  std::mt19937_64 rng(2024);
  std::vector<uint64_t> areas;
  for (uint64_t a = 0; a < limit_pages / kAreaPages; ++a)
    if (block_used(a * kAreaPages / kBlockPages)) areas.push_back(a);
  std::shuffle(areas.begin(), areas.end(), rng);
  std::vector<uint64_t> pages;
  for (uint64_t a : areas) {
    if (pages.size() >= target) break;
    uint64_t p = a * kAreaPages + rng() % 3;
    while (p < (a + 1) * kAreaPages && pages.size() < target) {
      uint64_t run = 2 + rng() % 2;
      for (uint64_t i = 0; i < run && p < (a + 1) * kAreaPages; ++i) pages.push_back(p++);
      p += rng() % 3;
    }
  }
  return pages;
}

// One written page store (per guest size), kept for the whole run.
struct Store {
  std::filesystem::path dir;
  uint64_t pages = 0;
  thaw::memory::test::TestStore store;
  ~Store() {
    store.source.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

Store& store_of(uint64_t mib) {
  static std::map<uint64_t, std::unique_ptr<Store>> stores;
  auto& slot = stores[mib];
  if (slot) return *slot;
  slot = std::make_unique<Store>();
  Store& st = *slot;
  st.pages = mib * kMiB / kPage;
  st.dir = std::filesystem::temp_directory_path() / ("thaw-bench-lazy-" + std::to_string(::getpid()) + "-" +
                                                     std::to_string(mib));
  thaw::Mapping raw = thaw::Mapping::anonymous(st.pages * kPage, "bench image");
  for (uint64_t p = 0; p < st.pages; ++p)
    if (page_has_data(p)) fill_page(p, raw.data() + p * kPage);
  st.store = thaw::memory::test::write_store(st.dir, raw.bytes(), 16);
  return st;
}

// A store plus a working set: pages in touch order, and the chunks a first restore recorded.
struct Image {
  uint64_t pages = 0;
  const PageSource* source = nullptr;
  std::span<const RegionBinding> bindings;
  std::vector<uint64_t> working_set;
  std::vector<uint64_t> recorded;
};

// mib-MiB guest whose working set is `ws_pages` pages below `ws_limit_pages`.
Image& image(uint64_t mib, uint64_t ws_limit_pages, uint64_t ws_pages) {
  static std::map<std::pair<uint64_t, uint64_t>, std::unique_ptr<Image>> images;
  auto& slot = images[{mib, ws_pages}];
  if (slot) return *slot;
  Store& st = store_of(mib);
  slot = std::make_unique<Image>();
  Image& im = *slot;
  im.pages = st.pages;
  im.source = st.store.source.get();
  im.bindings = st.store.bindings;
  im.working_set = make_working_set(std::min(ws_limit_pages, im.pages), ws_pages);
  // A first restore records the working set (chunks in first-touch order).
  GuestMemory mem = GuestMemory::create(im.pages * kPage);
  LazyLoaderOptions opt;
  opt.record_working_set = true;
  LazyLoader loader(mem, *im.source, im.bindings, opt);
  uint64_t sum = 0;
  for (uint64_t p : im.working_set) sum += *reinterpret_cast<volatile uint64_t*>(mem.host_address(p * kPage));
  benchmark::DoNotOptimize(sum);
  im.recorded = loader.stop_recording();
  return im;
}

Image& image_1g() { return image(1024, 1024 * kMiB / kPage, 1024 * kMiB / kPage / 20); }

void touch(const GuestMemory& mem, const std::vector<uint64_t>& pages) {
  uint64_t sum = 0;
  for (uint64_t p : pages) sum += *reinterpret_cast<volatile uint64_t*>(mem.host_address(p * kPage));
  benchmark::DoNotOptimize(sum);
}

void report(benchmark::State& state, const RestoreStats& s) {
  state.counters["faults"] = static_cast<double>(s.faults);
  state.counters["bytes_read"] = static_cast<double>(s.bytes_read);
}

enum class Mode { per_page, fault_around, prefetch };

void lazy_restore(benchmark::State& state, Image& im, Mode mode) {
  RestoreStats last;
  for (auto _ : state) {
    auto t0 = Clock::now();
    GuestMemory mem = GuestMemory::create(im.pages * kPage);
    LazyLoaderOptions opt;
    opt.fault_around = mode != Mode::per_page;
    LazyLoader loader(mem, *im.source, im.bindings, opt);
    if (mode == Mode::prefetch) loader.start_prefetch(im.recorded);
    touch(mem, im.working_set);
    auto t1 = Clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    loader.wait_prefetch();
    last = loader.stats();
  }
  report(state, last);
  state.counters["ws_MiB"] = static_cast<double>(im.working_set.size() * kPage) / kMiB;
  if (mode == Mode::prefetch && last.prefetch_done) {
    double secs = std::chrono::duration<double>(last.prefetch_time).count();
    state.counters["prefetch_ms"] = secs * 1e3;
    state.counters["install_GBps"] = static_cast<double>(last.bytes_installed + last.zero_bytes_installed) / secs / 1e9;
  }
}

void BM_LazyRestorePerPage(benchmark::State& state) { lazy_restore(state, image_1g(), Mode::per_page); }
void BM_LazyRestoreFaultAround(benchmark::State& state) { lazy_restore(state, image_1g(), Mode::fault_around); }
void BM_LazyRestorePrefetch(benchmark::State& state) { lazy_restore(state, image_1g(), Mode::prefetch); }

// Cloud Hypervisor's default: read and decode the whole store into guest memory, then run.
void BM_EagerRestore(benchmark::State& state) {
  Image& im = image_1g();
  const PageSource& src = *im.source;
  uint64_t bytes_read = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    GuestMemory mem = GuestMemory::create(im.pages * kPage);
    IoUringReader ring(64);
    struct Slot {
      uint64_t chunk = 0;
      std::vector<std::byte> stored;
      int result = 0;
    };
    std::vector<Slot> slots(ring.depth());
    std::vector<unsigned> free_slots;
    for (unsigned i = 0; i < ring.depth(); ++i) free_slots.push_back(i);
    bytes_read = 0;
    auto decode = [&](uint64_t tag, int res) {
      Slot& s = slots[tag];
      if (res < 0) throw thaw::Error("eager restore: read failed");
      bytes_read += static_cast<uint64_t>(res);
      uint64_t first = s.chunk * src.pages_per_chunk();
      src.decode_chunk(s.chunk, std::span<const std::byte>(s.stored.data(), static_cast<size_t>(res)),
                       std::span<std::byte>(mem.host_address(first * kPage), src.chunk_bytes(s.chunk)));
      free_slots.push_back(static_cast<unsigned>(tag));
    };
    for (uint64_t c = 0; c < src.chunk_count(); ++c) {
      auto ext = src.chunk_extent(c);
      if (!ext) continue;
      if (free_slots.empty()) ring.reap(decode, 1);
      unsigned i = free_slots.back();
      free_slots.pop_back();
      slots[i].chunk = c;
      slots[i].stored.resize(ext->length);
      ring.queue(ext->fd, ext->offset, slots[i].stored, i);
    }
    ring.drain(decode);
    touch(mem, im.working_set);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  state.counters["faults"] = 0;
  state.counters["bytes_read"] = static_cast<double>(bytes_read);
}

// Same working set (about 25 MiB inside the first 128 MiB) in guests of growing size.
void BM_LazyRestoreScaling(benchmark::State& state) {
  uint64_t mib = static_cast<uint64_t>(state.range(0));
  lazy_restore(state, image(mib, 128 * kMiB / kPage, 6400), Mode::prefetch);
}

// The ceiling for installing pages: UFFDIO_COPY of ready 2 MiB batches (DONTWAKE, one wake each).
void BM_UffdCopyBulk(benchmark::State& state) {
  constexpr uint64_t kRegion = 512 * kMiB, kBatch = 2 * kMiB;
  std::vector<std::byte> src(kBatch);
  for (uint64_t p = 0; p < kBatch / kPage; ++p) fill_page(p, src.data() + p * kPage);
  double seconds = 0;
  for (auto _ : state) {
    GuestMemory mem = GuestMemory::create(kRegion);
    Userfaultfd uffd = Userfaultfd::open();
    std::byte* base = mem.regions()[0].host;
    uffd.register_missing(base, kRegion);
    auto t0 = Clock::now();
    for (uint64_t off = 0; off < kRegion; off += kBatch) {
      uffd.copy(base + off, src.data(), kBatch, false);
      uffd.wake(base + off, kBatch);
    }
    double t = std::chrono::duration<double>(Clock::now() - t0).count();
    state.SetIterationTime(t);
    seconds += t;
    uffd.unregister(base, kRegion);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRegion));
  state.counters["install_GBps"] = static_cast<double>(state.iterations() * kRegion) / seconds / 1e9;
}

}  // namespace

BENCHMARK(BM_LazyRestorePerPage)->Name("LazyRestorePerPage")->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LazyRestoreFaultAround)->Name("LazyRestoreFaultAround")->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LazyRestorePrefetch)->Name("LazyRestorePrefetch")->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EagerRestore)->Name("EagerRestore")->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LazyRestoreScaling)->Name("LazyRestoreScaling")->Arg(128)->Arg(512)->Arg(1024)->Arg(2048)->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_UffdCopyBulk)->Name("UffdCopyBulk")->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);
