#include "memory/lazy_loader.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "base/error.h"
#include "base/log.h"
#include "memory/io_uring_reader.h"
#include "memory/page_bitmap.h"
#include "memory/userfaultfd.h"

namespace thaw::memory {
namespace {

using Clock = std::chrono::steady_clock;

// Chunk ownership. A chunk is claimed (idle/done -> loading) by whoever installs it, so the
// fault thread and the prefetcher never load one chunk at the same time. The prefetcher stores
// the final state BEFORE its UFFDIO_WAKE: a fault that saw `loading` is then sure to be woken.
enum ChunkState : uint8_t { kIdle = 0, kLoading = 1, kDone = 2, kFailed = 3 };

// A bound run of page space and where it lives in the host.
struct Segment {
  uint64_t first_page;
  uint64_t page_count;
  uint64_t guest_addr;
  std::byte* host;
};

enum class Fill { skip, zero, data };

struct Counters {
  std::atomic<uint64_t> faults{0}, faults_left_to_prefetch{0}, chunks_on_demand{0}, zero_chunks_on_demand{0},
      chunks_prefetched{0}, chunks_background{0}, bytes_read{0}, bytes_installed{0}, zero_bytes_installed{0},
      pages_removed{0}, failed_chunks{0}, failed_pages{0}, retries{0};
  std::atomic<int64_t> first_fault_ns{0}, prefetch_ns{0}, prefetch_read_ns{0}, prefetch_decode_ns{0},
      prefetch_install_ns{0};
  std::atomic<bool> prefetch_done{false};
};

struct PrefetchSlot {
  uint64_t chunk = 0;
  std::optional<ChunkExtent> extent;
  int result = 0;
  size_t offset = 0;  // in the worker's decode buffer
  bool ok = false;
};

// One prefetch thread's ring and buffers, reused from batch to batch.
struct PrefetchWorker {
  explicit PrefetchWorker(unsigned depth) : ring(depth) {}
  IoUringReader ring;
  std::vector<PrefetchSlot> slots;
  std::vector<std::vector<std::byte>> stored;
  std::vector<std::byte> decoded;
};

// Outcome of installing one chunk.
enum class Installed { all, interrupted, gone };

}  // namespace

struct LazyLoader::Impl {
  Impl(const GuestMemory& memory, const PageSource& source, std::span<const RegionBinding> bindings,
       LazyLoaderOptions options);
  ~Impl();

  void fault_loop();
  void handle_remove(uint64_t start, uint64_t end);
  void handle_faults(std::vector<uint64_t>& fault_addrs, IoUringReader& ring, Clock::time_point t_read);
  void fail_pages(uint64_t chunk, std::span<const uint64_t> pages, const std::string& cause);
  void fail_everything(const std::string& cause);
  void zero_pages(std::span<const uint64_t> pages);

  // Installs pages [first, end) from `data` (their decoded bytes; nullptr: all zero). With
  // `only` non-empty, just those pages (always tried, whatever the bitmap says); else every
  // page still missing. Zero pages go in with UFFDIO_ZEROPAGE, the rest with UFFDIO_COPY, in
  // runs as long as the kinds allow. Nothing is woken.
  Installed install_range(uint64_t first, uint64_t end, const std::byte* data, std::span<const uint64_t> only,
                          bool retry_eagain);
  Installed install_run(Fill fill, std::byte* host, const std::byte* src, uint64_t first_page, uint64_t pages,
                        bool retry_eagain);
  void wake_chunk(uint64_t chunk);

  // Prefetcher: load `chunks` (one batch / in batches); return how many they installed.
  uint64_t load_batch(std::span<const uint64_t> chunks, PrefetchWorker& w, bool* failed);
  uint64_t load_chunks(std::span<const uint64_t> chunks, PrefetchWorker& w, bool* failed);
  void prefetch_main();
  // Counts a prefetch thread through the working set (`worker_ok`: it got to the end of it); the
  // last one records the prefetch's end and sets working_set_in.
  void through_working_set(bool worker_ok);

  void record(uint64_t chunk);
  const Segment* segment_of_page(uint64_t page) const;
  const Segment* segment_of_host(uintptr_t addr) const;
  std::byte* host_of(uint64_t page) const;
  uint64_t chunk_first(uint64_t c) const { return c * source.pages_per_chunk(); }
  uint64_t chunk_end(uint64_t c) const { return std::min(chunk_first(c) + source.pages_per_chunk(), page_count); }
  Fill fill_of(uint64_t page) const {
    return (!options.reload_removed && removed.test(page)) || source.page_is_zero(page) ? Fill::zero : Fill::data;
  }
  int64_t since_start() const { return (Clock::now() - start).count(); }

  const PageSource& source;
  LazyLoaderOptions options;
  uint64_t page_count;
  uint64_t chunk_count;
  std::vector<Segment> segments;  // by first_page
  Userfaultfd uffd;
  AtomicBitmap installed;
  AtomicBitmap removed;
  std::unique_ptr<std::atomic<uint8_t>[]> state;
  Counters counters;
  Clock::time_point start = Clock::now();

  mutable std::mutex ws_mutex;
  std::vector<uint64_t> working_set;
  AtomicBitmap recorded;
  std::atomic<bool> recording;

  UniqueFd stop_event;
  // The fault thread polls and reads this duplicate of the userfaultfd; the ioctls go through
  // `uffd`. Should reading it ever fail, the ioctls still work to release every waiter.
  UniqueFd fault_fd;
  std::atomic<bool> stopping{false};
  std::thread fault_thread;
  std::vector<std::thread> prefetch_threads;
  bool prefetch_started = false;
  bool background = false;
  std::vector<uint64_t> prefetch_list;
  std::atomic<size_t> ws_cursor{0};
  std::atomic<uint64_t> bg_cursor{0};
  std::atomic<size_t> workers_done{0};
  std::atomic<bool> working_set_in{false};  // every prefetch thread is through the working set
  size_t worker_count = 0;  // set before any prefetch thread starts
};

LazyLoader::Impl::Impl(const GuestMemory& memory, const PageSource& src, std::span<const RegionBinding> bindings,
                       LazyLoaderOptions opts)
    : source(src),
      options(std::move(opts)),
      page_count(src.page_count()),
      chunk_count(src.chunk_count()),
      uffd(Userfaultfd::open()),
      installed(page_count),
      removed(page_count),
      state(std::make_unique<std::atomic<uint8_t>[]>(chunk_count)),
      recorded(chunk_count),
      recording(options.record_working_set) {
  if (source.page_size() != kPageSize)
    throw Error("lazy loader: page source has " + std::to_string(source.page_size()) + "-byte pages, expected 4096");
  if (source.pages_per_chunk() == 0) throw Error("lazy loader: page source has empty chunks");
  if (options.fault_io_depth == 0) options.fault_io_depth = 1;
  if (options.prefetch_io_depth == 0) options.prefetch_io_depth = 1;
  if (options.prefetch_batch_chunks == 0) options.prefetch_batch_chunks = 1;

  std::vector<RegionBinding> bound(bindings.begin(), bindings.end());
  if (bound.empty()) {
    uint64_t next = 0;
    for (auto& r : memory.regions()) {
      bound.push_back({r.guest_addr, next, r.size / kPageSize});
      next += r.size / kPageSize;
    }
  }
  for (auto& b : bound) {
    if (b.page_count == 0) continue;
    const MemoryRegion* r = memory.find(b.guest_addr);
    if (!r || b.page_count > (r->size - (b.guest_addr - r->guest_addr)) / kPageSize || b.guest_addr % kPageSize)
      throw Error(fmt::format("lazy loader: binding {:#x}+{} pages is outside guest memory", b.guest_addr, b.page_count));
    if (r->page_size != kPageSize)
      throw Error("lazy loader: hugetlb-backed guest memory cannot be restored lazily; use 4 KiB pages");
    if (b.first_page > page_count || b.page_count > page_count - b.first_page)
      throw Error(fmt::format("lazy loader: binding {:#x} wants pages [{}, {}) but the source has {}", b.guest_addr,
                              b.first_page, b.first_page + b.page_count, page_count));
    segments.push_back({b.first_page, b.page_count, b.guest_addr, memory.host_address(b.guest_addr)});
  }
  std::sort(segments.begin(), segments.end(), [](auto& a, auto& b) { return a.first_page < b.first_page; });
  for (size_t i = 1; i < segments.size(); ++i)
    if (segments[i - 1].first_page + segments[i - 1].page_count > segments[i].first_page)
      throw Error("lazy loader: two bindings share source pages");

  stop_event = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_event) throw_errno("eventfd", "lazy loader stop");
  for (auto& s : segments) uffd.register_missing(s.host, s.page_count * kPageSize);
  fault_fd = UniqueFd(::fcntl(uffd.fd(), F_DUPFD_CLOEXEC, 0));
  if (!fault_fd) throw_errno("fcntl", "F_DUPFD_CLOEXEC of the userfaultfd");
  fault_thread = std::thread([this] { fault_loop(); });
}

LazyLoader::Impl::~Impl() {
  stopping = true;
  for (auto& t : prefetch_threads)
    if (t.joinable()) t.join();
  uint64_t one = 1;
  if (::write(stop_event.get(), &one, sizeof one) < 0) spdlog::error("lazy loader: cannot signal the fault thread");
  if (fault_thread.joinable()) fault_thread.join();
  for (auto& s : segments) uffd.unregister(s.host, s.page_count * kPageSize);
}

const Segment* LazyLoader::Impl::segment_of_page(uint64_t page) const {
  auto it = std::upper_bound(segments.begin(), segments.end(), page,
                             [](uint64_t p, const Segment& s) { return p < s.first_page; });
  if (it == segments.begin()) return nullptr;
  --it;
  return page - it->first_page < it->page_count ? &*it : nullptr;
}

const Segment* LazyLoader::Impl::segment_of_host(uintptr_t addr) const {
  for (auto& s : segments) {
    auto base = reinterpret_cast<uintptr_t>(s.host);
    if (addr >= base && addr - base < s.page_count * kPageSize) return &s;
  }
  return nullptr;
}

std::byte* LazyLoader::Impl::host_of(uint64_t page) const {
  const Segment* s = segment_of_page(page);
  return s ? s->host + (page - s->first_page) * kPageSize : nullptr;
}

void LazyLoader::Impl::record(uint64_t chunk) {
  if (!recording.load(std::memory_order_relaxed) || recorded.test_and_set(chunk)) return;
  std::lock_guard lock(ws_mutex);
  if (recording) working_set.push_back(chunk);
}

// ---- installing -------------------------------------------------------------------------

Installed LazyLoader::Impl::install_run(Fill fill, std::byte* host, const std::byte* src, uint64_t first_page,
                                        uint64_t pages, bool retry_eagain) {
  uint64_t done = 0;
  int eagain_left = retry_eagain ? 2000 : 0;
  while (done < pages) {
    size_t len = (pages - done) * kPageSize;
    std::byte* dst = host + done * kPageSize;
    Userfaultfd::Result r = fill == Fill::zero ? uffd.zeropage(dst, len, false)
                                               : uffd.copy(dst, src + done * kPageSize, len, false);
    uint64_t n = r.bytes / kPageSize;
    installed.set_range(first_page + done, n);
    (fill == Fill::zero ? counters.zero_bytes_installed : counters.bytes_installed) += n * kPageSize;
    done += n;
    if (r.error == 0) continue;
    if (r.error == EEXIST) {  // that page is already present: step over it
      installed.set(first_page + done);
      ++done;
    } else if (r.error == EAGAIN) {
      counters.retries++;
      if (eagain_left-- <= 0) return Installed::interrupted;
      std::this_thread::sleep_for(std::chrono::microseconds(50));  // the fault thread reads the pending event
    } else {
      return Installed::gone;  // ENOENT/ESRCH: the mapping or the process is going away
    }
  }
  return Installed::all;
}

Installed LazyLoader::Impl::install_range(uint64_t first, uint64_t end, const std::byte* data,
                                          std::span<const uint64_t> only, bool retry_eagain) {
  auto wanted = [&](uint64_t p) {
    if (!only.empty()) return std::find(only.begin(), only.end(), p) != only.end();
    return !installed.test(p);
  };
  auto fill_at = [&](uint64_t p) {
    if (!wanted(p)) return Fill::skip;
    return data ? fill_of(p) : Fill::zero;
  };
  uint64_t p = first;
  while (p < end) {
    const Segment* seg = segment_of_page(p);
    if (!seg) {
      ++p;
      continue;
    }
    uint64_t seg_end = std::min(end, seg->first_page + seg->page_count);
    Fill f = fill_at(p);
    uint64_t q = p + 1;
    while (q < seg_end && fill_at(q) == f) ++q;
    if (f != Fill::skip) {
      const std::byte* src = data ? data + (p - first) * kPageSize : nullptr;
      Installed r = install_run(f, seg->host + (p - seg->first_page) * kPageSize, src, p, q - p, retry_eagain);
      if (r != Installed::all) return r;
    }
    p = q;
  }
  return Installed::all;
}

void LazyLoader::Impl::wake_chunk(uint64_t chunk) {
  uint64_t p = chunk_first(chunk), end = chunk_end(chunk);
  while (p < end) {
    const Segment* seg = segment_of_page(p);
    if (!seg) {
      ++p;
      continue;
    }
    uint64_t q = std::min(end, seg->first_page + seg->page_count);
    uffd.wake(seg->host + (p - seg->first_page) * kPageSize, (q - p) * kPageSize);
    p = q;
  }
}

// ---- the fault thread -------------------------------------------------------------------

void LazyLoader::Impl::fault_loop() {
  std::unique_ptr<IoUringReader> ring;
  try {
    ring = std::make_unique<IoUringReader>(options.fault_io_depth);
  } catch (const std::exception& e) {
    spdlog::error("lazy loader: {}", e.what());
  }
  std::vector<uffd_msg> msgs(64);
  std::vector<uint64_t> faults;
  for (;;) {
    pollfd fds[2] = {{fault_fd.get(), POLLIN, 0}, {stop_event.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return fail_everything(std::string("poll(userfaultfd): ") + std::strerror(errno));
    }
    if (fds[1].revents) return;
    if (fds[0].revents & (POLLERR | POLLNVAL)) return fail_everything("the userfaultfd is broken (poll)");
    ssize_t n = ::read(fault_fd.get(), msgs.data(), msgs.size() * sizeof(uffd_msg));
    Clock::time_point t_read = Clock::now();
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return fail_everything(std::string("read(userfaultfd): ") + std::strerror(errno));
    }
    if (n == 0 || n % sizeof(uffd_msg) != 0)
      return fail_everything("read(userfaultfd) returned " + std::to_string(n) + " bytes, not whole messages");
    faults.clear();
    for (size_t i = 0; i < static_cast<size_t>(n) / sizeof(uffd_msg); ++i) {
      const uffd_msg& m = msgs[i];
      if (m.event == UFFD_EVENT_PAGEFAULT)
        faults.push_back(m.arg.pagefault.address);
      else if (m.event == UFFD_EVENT_REMOVE)
        handle_remove(m.arg.remove.start, m.arg.remove.end);
    }
    if (faults.empty()) continue;
    if (!ring) {  // cannot read anything: never leave a thread hanging
      for (uint64_t a : faults) {
        uint64_t page = a & ~(kPageSize - 1);
        if (const Segment* s = segment_of_host(page)) {
          uint64_t pg = s->first_page + (page - reinterpret_cast<uintptr_t>(s->host)) / kPageSize;
          fail_pages(pg / source.pages_per_chunk(), std::span<const uint64_t>(&pg, 1), "io_uring unavailable");
        }
      }
      continue;
    }
    handle_faults(faults, *ring, t_read);
  }
}

void LazyLoader::Impl::handle_remove(uint64_t start, uint64_t end) {
  for (auto& s : segments) {
    uint64_t base = reinterpret_cast<uintptr_t>(s.host), limit = base + s.page_count * kPageSize;
    uint64_t a = std::max(start, base), b = std::min(end, limit);
    if (a >= b) continue;
    uint64_t first = s.first_page + (a - base) / kPageSize;
    uint64_t last = s.first_page + (b - base + kPageSize - 1) / kPageSize;
    for (uint64_t p = first; p < last; ++p) {
      removed.set(p);
      installed.clear(p);
    }
    // A loaded chunk that lost pages is no longer loaded: loading it again is a new load.
    for (uint64_t c = first / source.pages_per_chunk(); c <= (last - 1) / source.pages_per_chunk(); ++c) {
      uint8_t done = kDone;
      state[c].compare_exchange_strong(done, kIdle);
    }
    counters.pages_removed += last - first;
  }
}

void LazyLoader::Impl::zero_pages(std::span<const uint64_t> pages) {
  for (uint64_t p : pages) {
    std::byte* h = host_of(p);
    install_run(Fill::zero, h, nullptr, p, 1, false);
    uffd.wake(h, kPageSize);
  }
}

void LazyLoader::Impl::fail_pages(uint64_t chunk, std::span<const uint64_t> pages, const std::string& cause) {
  for (uint64_t p : pages) {
    std::byte* h = host_of(p);
    counters.failed_pages++;
    // The owner hears of it before the faulting thread is released.
    if (options.on_failure) {
      const Segment* s = segment_of_page(p);
      try {
        options.on_failure({h, s->guest_addr + (p - s->first_page) * kPageSize, chunk, cause});
      } catch (const std::exception& e) {
        spdlog::error("lazy loader: failure callback threw: {}", e.what());
      }
    }
    if (options.failed_pages == LazyLoaderOptions::FailedPages::kZeroFill) {
      install_run(Fill::zero, h, nullptr, p, 1, false);
    } else if (uffd.has_poison()) {
      uffd.poison(h, kPageSize, false);  // EEXIST: present after all; the wake below releases it
    } else if (::mprotect(h, kPageSize, PROT_NONE) < 0) {
      spdlog::error("lazy loader: mprotect of failed page: {}", std::strerror(errno));
    }
    uffd.wake(h, kPageSize);
  }
}

// The fault thread can no longer learn of faults: no access to a page still missing may hang or
// see made-up data. The owner hears why first; then every such page becomes what a failed page
// becomes (zeros for kZeroFill, else poisoned or PROT_NONE), and every waiter is woken.
void LazyLoader::Impl::fail_everything(const std::string& cause) {
  spdlog::error("lazy loader: {}; failing every page not loaded yet", cause);
  stopping = true;
  if (options.on_failure) {
    try {
      options.on_failure({nullptr, 0, kAllChunks, cause});
    } catch (const std::exception& e) {
      spdlog::error("lazy loader: failure callback threw: {}", e.what());
    }
  }
  for (const Segment& seg : segments) {
    for (uint64_t p = seg.first_page, end = seg.first_page + seg.page_count; p < end;) {
      if (installed.test(p)) {
        ++p;
        continue;
      }
      uint64_t q = p + 1;
      while (q < end && !installed.test(q)) ++q;
      std::byte* host = seg.host + (p - seg.first_page) * kPageSize;
      size_t len = (q - p) * kPageSize;
      counters.failed_pages += q - p;
      bool done = false;
      if (options.failed_pages == LazyLoaderOptions::FailedPages::kZeroFill)
        done = install_run(Fill::zero, host, nullptr, p, q - p, false) == Installed::all;
      else if (uffd.has_poison())
        done = uffd.poison(host, len, false).error == 0;
      if (!done && ::mprotect(host, len, PROT_NONE) < 0)
        spdlog::error("lazy loader: mprotect of pages that cannot be loaded: {}", std::strerror(errno));
      p = q;
    }
    uffd.wake(seg.host, seg.page_count * kPageSize);
  }
}

void LazyLoader::Impl::handle_faults(std::vector<uint64_t>& addrs, IoUringReader& ring, Clock::time_point t_read) {
  counters.faults += addrs.size();
  // Fault addresses -> source pages, grouped by chunk so concurrent faults on one chunk load it once.
  struct Job {
    uint64_t chunk;
    std::vector<uint64_t> pages;
    ChunkExtent extent;
    std::vector<std::byte> stored;
    int result = 0;
    bool reload = false;  // the chunk was loaded already (a fault queued before its wake): not counted again
  };
  std::vector<std::pair<uint64_t, uint64_t>> by_chunk;  // (chunk, page)
  for (uint64_t a : addrs) {
    const Segment* s = segment_of_host(a);
    if (!s) continue;
    uint64_t page = s->first_page + (a - reinterpret_cast<uintptr_t>(s->host)) / kPageSize;
    by_chunk.emplace_back(page / source.pages_per_chunk(), page);
  }
  std::sort(by_chunk.begin(), by_chunk.end());
  by_chunk.erase(std::unique(by_chunk.begin(), by_chunk.end()), by_chunk.end());

  std::vector<Job> jobs;
  std::vector<uint64_t> zeros;
  for (size_t i = 0; i < by_chunk.size();) {
    uint64_t c = by_chunk[i].first;
    std::vector<uint64_t> pages;
    for (; i < by_chunk.size() && by_chunk[i].first == c; ++i) {
      uint64_t p = by_chunk[i].second;
      if (!options.reload_removed && removed.test(p))
        zeros.push_back(p);  // dropped by madvise: reads as zeros, like any anonymous page
      else
        pages.push_back(p);
    }
    record(c);
    if (pages.empty()) continue;
    uint8_t st = state[c].load();
    if (st == kFailed) {
      fail_pages(c, pages, "chunk failed to load earlier");
      continue;
    }
    // A page faulting is missing whatever the bitmap says (a REMOVE can race with an install).
    for (uint64_t p : pages) installed.clear(p);
    if (st == kLoading || !state[c].compare_exchange_strong(st, kLoading)) {
      counters.faults_left_to_prefetch += pages.size();  // the prefetcher's wake will release it
      continue;
    }
    const bool reload = st == kDone;
    std::optional<ChunkExtent> ext;
    try {
      ext = source.chunk_extent(c);
    } catch (const std::exception& e) {
      state[c] = kFailed;
      counters.failed_chunks++;
      fail_pages(c, pages, e.what());
      continue;
    }
    if (!ext) {  // every page zero: nothing to read
      std::span<const uint64_t> only = options.fault_around ? std::span<const uint64_t>() : pages;
      Installed r = install_range(chunk_first(c), chunk_end(c), nullptr, only, false);
      state[c] = r == Installed::all && options.fault_around ? kDone : kIdle;
      if (!reload) counters.zero_chunks_on_demand++;
      wake_chunk(c);
      continue;
    }
    Job job{c, std::move(pages), *ext, {}, 0, reload};
    job.stored.resize(ext->length);
    jobs.push_back(std::move(job));
  }
  zero_pages(zeros);

  // Every chunk of this batch in flight at once.
  for (size_t j = 0; j < jobs.size(); ++j) ring.queue(jobs[j].extent.fd, jobs[j].extent.offset, jobs[j].stored, j);
  ring.drain([&](uint64_t tag, int res) { jobs[tag].result = res; });

  std::vector<std::byte> decoded;
  for (Job& job : jobs) {
    uint64_t c = job.chunk;
    std::string error;
    if (job.result < 0)
      error = fmt::format("reading chunk {}: {}", c, std::strerror(-job.result));
    else if (static_cast<uint32_t>(job.result) != job.extent.length)
      error = fmt::format("reading chunk {}: short read ({} of {} bytes)", c, job.result, job.extent.length);
    if (error.empty()) {
      counters.bytes_read += job.extent.length;
      decoded.resize(source.chunk_bytes(c));
      try {
        source.decode_chunk(c, job.stored, decoded);
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
    if (!error.empty()) {
      state[c] = kFailed;
      counters.failed_chunks++;
      spdlog::error("lazy loader: chunk {}: {}", c, error);
      fail_pages(c, job.pages, error);
      continue;
    }
    std::span<const uint64_t> only = options.fault_around ? std::span<const uint64_t>() : job.pages;
    Installed r = install_range(chunk_first(c), chunk_end(c), decoded.data(), only, false);
    // Interrupted by a pending REMOVE: the wake below makes the thread fault again, and that
    // new message comes after the event in the queue.
    state[c] = r == Installed::all && options.fault_around ? kDone : kIdle;
    if (!job.reload) counters.chunks_on_demand++;
    wake_chunk(c);
  }
  if (counters.first_fault_ns == 0) counters.first_fault_ns = (Clock::now() - t_read).count();
}

// ---- prefetch -----------------------------------------------------------------------------

// Claims what it can of `chunks` (at most one batch), reads them all at once, decodes them into
// one buffer in chunk order, installs runs of consecutive chunks with single copies (no wake),
// publishes their states, then wakes each region's span of the batch once.
uint64_t LazyLoader::Impl::load_batch(std::span<const uint64_t> chunks, PrefetchWorker& w, bool* failed) {
  auto& slots = w.slots;
  slots.clear();
  for (uint64_t c : chunks) {
    uint8_t idle = kIdle;
    if (!state[c].compare_exchange_strong(idle, kLoading)) continue;
    PrefetchSlot s;
    s.chunk = c;
    try {
      s.extent = source.chunk_extent(c);
    } catch (const std::exception&) {
      s.result = -EIO;
    }
    slots.push_back(std::move(s));
  }
  if (slots.empty()) return 0;
  std::sort(slots.begin(), slots.end(), [](auto& a, auto& b) { return a.chunk < b.chunk; });
  size_t total = 0;
  for (auto& s : slots) {
    s.offset = total;
    total += source.chunk_bytes(s.chunk);
  }
  if (w.decoded.size() < total) w.decoded.resize(total);
  if (w.stored.size() < slots.size()) w.stored.resize(slots.size());
  for (size_t i = 0; i < slots.size(); ++i)
    if (slots[i].extent && slots[i].result == 0) {
      w.stored[i].resize(slots[i].extent->length);
      w.ring.queue(slots[i].extent->fd, slots[i].extent->offset, w.stored[i], i);
    }
  auto t_read = Clock::now();
  w.ring.drain([&](uint64_t tag, int res) { slots[tag].result = res; });
  auto t_decode = Clock::now();
  counters.prefetch_read_ns += (t_decode - t_read).count();

  for (size_t i = 0; i < slots.size(); ++i) {
    PrefetchSlot& s = slots[i];
    s.ok = s.result >= 0;
    if (!s.ok || !s.extent) continue;
    s.ok = static_cast<uint32_t>(s.result) == s.extent->length;
    if (!s.ok) continue;
    counters.bytes_read += s.extent->length;
    try {
      source.decode_chunk(s.chunk, w.stored[i], std::span<std::byte>(w.decoded.data() + s.offset,
                                                                       source.chunk_bytes(s.chunk)));
    } catch (const std::exception& e) {
      spdlog::warn("prefetch: chunk {}: {} (left to the fault handler)", s.chunk, e.what());
      s.ok = false;
    }
  }

  auto t_install = Clock::now();
  counters.prefetch_decode_ns += (t_install - t_decode).count();
  uint64_t loaded = 0;
  std::vector<std::pair<std::byte*, std::byte*>> wake_ranges(segments.size(), {nullptr, nullptr});  // [lo, hi)
  for (size_t i = 0; i < slots.size();) {
    size_t j = i + 1;
    if (slots[i].ok)
      while (j < slots.size() && slots[j].ok && slots[j].chunk == slots[j - 1].chunk + 1) ++j;
    uint64_t first = chunk_first(slots[i].chunk), end = chunk_end(slots[j - 1].chunk);
    Installed r = Installed::interrupted;
    if (slots[i].ok) r = install_range(first, end, w.decoded.data() + slots[i].offset, {}, true);
    else if (failed) *failed = true;
    // Published before the wake (see ChunkState). Idle: the fault handler loads it (and reports).
    for (size_t k = i; k < j; ++k) state[slots[k].chunk] = r == Installed::all ? kDone : kIdle;
    if (r == Installed::all) loaded += j - i;
    for (uint64_t p = first; p < end;) {
      const Segment* seg = segment_of_page(p);
      if (!seg) {
        ++p;
        continue;
      }
      uint64_t q = std::min(end, seg->first_page + seg->page_count);
      std::byte* lo = seg->host + (p - seg->first_page) * kPageSize;
      std::byte* hi = seg->host + (q - seg->first_page) * kPageSize;
      auto& range = wake_ranges[static_cast<size_t>(seg - segments.data())];
      range.first = range.first ? std::min(range.first, lo) : lo;
      range.second = std::max(range.second, hi);
      p = q;
    }
    i = j;
  }
  // One wake per region for the whole batch: it may also wake threads waiting on pages in
  // between, which then simply fault again.
  for (auto& range : wake_ranges)
    if (range.first) uffd.wake(range.first, static_cast<size_t>(range.second - range.first));
  counters.prefetch_install_ns += (Clock::now() - t_install).count();
  return loaded;
}

uint64_t LazyLoader::Impl::load_chunks(std::span<const uint64_t> chunks, PrefetchWorker& w, bool* failed) {
  uint64_t loaded = 0;
  for (size_t i = 0; i < chunks.size() && !stopping; i += options.prefetch_batch_chunks)
    loaded += load_batch(chunks.subspan(i, std::min<size_t>(options.prefetch_batch_chunks, chunks.size() - i)), w,
                         failed);
  return loaded;
}

void LazyLoader::Impl::prefetch_main() {
  bool counted = false;  // in workers_done for the working set: the others' background pass waits for it
  try {
    PrefetchWorker w(options.prefetch_io_depth);
    const size_t batch = options.prefetch_batch_chunks;
    uint64_t n = 0;
    for (size_t i; (i = ws_cursor.fetch_add(batch)) < prefetch_list.size() && !stopping;)
      n += load_batch(std::span<const uint64_t>(prefetch_list).subspan(i, std::min(batch, prefetch_list.size() - i)),
                      w, nullptr);
    counters.chunks_prefetched += n;
    counted = true;
    through_working_set(true);
    if (!background || stopping) return;
    // The background pass starts once every worker is through the working set: a worker that
    // found the list taken would otherwise claim working-set chunks another had not claimed yet,
    // loading them out of the recorded order (and counting them as background).
    for (size_t v = workers_done.load(); v < worker_count; v = workers_done.load()) workers_done.wait(v);
    // Everything else, at the lowest CPU priority, so the guest's own faults come first.
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 19);
    std::vector<uint64_t> list;
    uint64_t m = 0;
    for (uint64_t i; (i = bg_cursor.fetch_add(batch)) < chunk_count && !stopping;) {
      list.clear();
      for (uint64_t c = i; c < std::min<uint64_t>(i + batch, chunk_count); ++c)
        if (state[c].load(std::memory_order_relaxed) == kIdle) list.push_back(c);
      m += load_batch(list, w, nullptr);
    }
    counters.chunks_background += m;
    if (workers_done.fetch_add(1) + 1 == 2 * worker_count)
      spdlog::info("background pass: done {:.2f} ms after restore start ({} chunks)", since_start() / 1e6,
                   counters.chunks_background.load());
  } catch (const std::exception& e) {
    spdlog::error("prefetch stopped: {}", e.what());
    if (!counted) through_working_set(false);
  }
}

void LazyLoader::Impl::through_working_set(bool worker_ok) {
  if (workers_done.fetch_add(1) + 1 == worker_count) {
    if (worker_ok) {
      counters.prefetch_ns = since_start();
      counters.prefetch_done = true;
      if (!prefetch_list.empty())
        spdlog::info("prefetch: {} of {} working-set chunks installed in {:.2f} ms", counters.chunks_prefetched.load(),
                     prefetch_list.size(), counters.prefetch_ns / 1e6);
    }
    working_set_in = true;
    working_set_in.notify_all();
  }
  workers_done.notify_all();
}

// ---- public -------------------------------------------------------------------------------

LazyLoader::LazyLoader(const GuestMemory& memory, const PageSource& source, std::span<const RegionBinding> bindings,
                       LazyLoaderOptions options)
    : impl_(std::make_unique<Impl>(memory, source, bindings, std::move(options))) {}

LazyLoader::~LazyLoader() {
  RestoreStats s = stats();
  impl_.reset();
  spdlog::info("lazy restore: {}", to_string(s));
}

void LazyLoader::start_prefetch(std::vector<uint64_t> chunks, bool background) {
  if (impl_->prefetch_started) throw Error("lazy loader: prefetch already started");
  for (uint64_t c : chunks)
    if (c >= impl_->chunk_count)
      throw Error(fmt::format("lazy loader: working set names chunk {} but the source has {}", c, impl_->chunk_count));
  impl_->prefetch_started = true;
  impl_->prefetch_list = std::move(chunks);
  impl_->background = background;
  unsigned n = std::max(1u, impl_->options.prefetch_threads);
  impl_->worker_count = n;
  // The threads hold the Impl, never `impl_`: unique_ptr::reset nulls `impl_` before ~Impl joins
  // them, and a thread scheduled late would read it then.
  Impl* im = impl_.get();
  for (unsigned i = 0; i < n; ++i) im->prefetch_threads.emplace_back([im] { im->prefetch_main(); });
}

void LazyLoader::wait_prefetch() {
  for (auto& t : impl_->prefetch_threads)
    if (t.joinable()) t.join();
}

void LazyLoader::wait_prefetch_working_set() {
  Impl& im = *impl_;
  if (!im.prefetch_started) return;
  im.working_set_in.wait(false);
}

void LazyLoader::load_all() {
  Impl& im = *impl_;
  PrefetchWorker worker(im.options.prefetch_io_depth);
  for (int round = 0;; ++round) {
    std::vector<uint64_t> missing;
    for (uint64_t c = 0; c < im.chunk_count; ++c) {
      bool any = false;
      for (uint64_t p = im.chunk_first(c); p < im.chunk_end(c) && !any; ++p)
        any = !im.installed.test(p) && im.segment_of_page(p);
      if (!any) continue;
      uint8_t st = im.state[c].load();
      if (st == kFailed) throw PageSourceError(fmt::format("chunk {} of guest memory cannot be loaded", c));
      if (st == kDone) im.state[c].compare_exchange_strong(st, kIdle);  // bits say pages went missing again
      missing.push_back(c);
    }
    if (missing.empty()) return;
    bool failed = false;
    im.counters.chunks_background += im.load_chunks(missing, worker, &failed);
    if (failed) throw PageSourceError("guest memory cannot be loaded completely: a chunk failed to read or decode");
    if (round > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // others hold claims
  }
}

std::vector<uint64_t> LazyLoader::stop_recording() {
  std::lock_guard lock(impl_->ws_mutex);
  impl_->recording = false;
  return impl_->working_set;
}

std::vector<uint64_t> LazyLoader::working_set() const {
  std::lock_guard lock(impl_->ws_mutex);
  return impl_->working_set;
}

bool LazyLoader::uses_poison() const { return impl_->uffd.has_poison(); }
int LazyLoader::fault_fd_for_testing() const { return impl_->fault_fd.get(); }

RestoreStats LazyLoader::stats() const {
  const Counters& c = impl_->counters;
  RestoreStats s;
  s.faults = c.faults;
  s.faults_left_to_prefetch = c.faults_left_to_prefetch;
  s.chunks_on_demand = c.chunks_on_demand;
  s.zero_chunks_on_demand = c.zero_chunks_on_demand;
  s.chunks_prefetched = c.chunks_prefetched;
  s.chunks_background = c.chunks_background;
  s.bytes_read = c.bytes_read;
  s.bytes_installed = c.bytes_installed;
  s.zero_bytes_installed = c.zero_bytes_installed;
  s.pages_removed = c.pages_removed;
  s.failed_chunks = c.failed_chunks;
  s.failed_pages = c.failed_pages;
  s.retries = c.retries;
  s.first_fault_latency = std::chrono::nanoseconds(c.first_fault_ns.load());
  s.prefetch_time = std::chrono::nanoseconds(c.prefetch_ns.load());
  s.prefetch_done = c.prefetch_done;
  s.prefetch_read_time = std::chrono::nanoseconds(c.prefetch_read_ns.load());
  s.prefetch_decode_time = std::chrono::nanoseconds(c.prefetch_decode_ns.load());
  s.prefetch_install_time = std::chrono::nanoseconds(c.prefetch_install_ns.load());
  return s;
}

}  // namespace thaw::memory
