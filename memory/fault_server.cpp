#include "memory/fault_server.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "base/error.h"
#include "base/log.h"
#include "memory/shared_image.h"

namespace thaw::memory {

struct FaultServer::Job {
  ChunkClaim claim;
  std::vector<uint64_t> pages;  // the faulting pages of the chunk
  ChunkExtent extent;
  ByteBuffer stored;
  int result = 0;
};

FaultServer::FaultServer(LoaderCore& core) : core_(core) {
  stop_event_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_event_) throw_errno("eventfd", "lazy loader stop");
  fault_fd_ = UniqueFd(::fcntl(core_.installer.uffd().fd(), F_DUPFD_CLOEXEC, 0));
  if (!fault_fd_) throw_errno("fcntl", "F_DUPFD_CLOEXEC of the userfaultfd");
  thread_ = std::thread([this] { loop(); });
}

FaultServer::~FaultServer() {
  uint64_t one = 1;
  if (::write(stop_event_.get(), &one, sizeof one) < 0) spdlog::error("lazy loader: cannot signal the fault thread");
  if (thread_.joinable()) thread_.join();
}

void FaultServer::loop() {
  std::unique_ptr<IoUringReader> ring;
  try {
    ring = std::make_unique<IoUringReader>(core_.options.fault_io_depth);
  } catch (const std::exception& e) {
    spdlog::error("lazy loader: {}", e.what());
  }
  std::vector<uffd_msg> msgs(64);
  std::vector<uint64_t> faults;
  for (;;) {
    pollfd fds[2] = {{fault_fd_.get(), POLLIN, 0}, {stop_event_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return fail_everything(std::string("poll(userfaultfd): ") + std::strerror(errno));
    }
    if (fds[1].revents) return;
    if (fds[0].revents & (POLLERR | POLLNVAL)) return fail_everything("the userfaultfd is broken (poll)");
    ssize_t n = ::read(fault_fd_.get(), msgs.data(), msgs.size() * sizeof(uffd_msg));
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
    if (ring) {
      handle_faults(faults, *ring);
      continue;
    }
    for (uint64_t a : faults)  // cannot read anything: never leave a thread hanging
      if (auto page = core_.map.page_of_host(a)) fail_pages(core_.chunk_of(*page), {&*page, 1}, "io_uring unavailable");
  }
}

void FaultServer::handle_faults(const std::vector<uint64_t>& addresses, IoUringReader& ring) {
  auto t_read = LoaderCore::Clock::now();
  core_.counters.faults += addresses.size();
  std::vector<std::pair<uint64_t, uint64_t>> by_chunk;  // (chunk, page): one load per chunk
  for (uint64_t a : addresses)
    if (auto page = core_.map.page_of_host(a)) by_chunk.emplace_back(core_.chunk_of(*page), *page);
  std::sort(by_chunk.begin(), by_chunk.end());
  by_chunk.erase(std::unique(by_chunk.begin(), by_chunk.end()), by_chunk.end());

  std::vector<Job> jobs = claim_jobs(by_chunk);
  for (size_t j = 0; j < jobs.size(); ++j) ring.queue(jobs[j].extent.fd, jobs[j].extent.offset, jobs[j].stored, j);
  ring.drain([&](uint64_t tag, int res) { jobs[tag].result = res; });
  for (Job& job : jobs) finish_job(job);
  if (core_.counters.first_fault_ns == 0) core_.counters.first_fault_ns = (LoaderCore::Clock::now() - t_read).count();
}

std::vector<FaultServer::Job> FaultServer::claim_jobs(const std::vector<std::pair<uint64_t, uint64_t>>& by_chunk) {
  std::vector<Job> jobs;
  for (size_t i = 0; i < by_chunk.size();) {
    uint64_t c = by_chunk[i].first;
    std::vector<uint64_t> pages;
    for (; i < by_chunk.size() && by_chunk[i].first == c; ++i) {
      uint64_t p = by_chunk[i].second;
      if (!core_.options.reload_removed && core_.installer.removed().test(p))
        core_.installer.zero_page_and_wake(p);  // dropped by madvise: reads as zeros, as anonymous memory does
      else
        pages.push_back(p);
    }
    core_.recorder.record(c);
    if (pages.empty()) continue;
    if (core_.claims.state(c) == ChunkState::kFailed) {
      fail_pages(c, pages, "chunk failed to load earlier");
      continue;
    }
    // A page faulting is missing whatever the bitmap says (a REMOVE can race with an install).
    for (uint64_t p : pages) core_.installer.installed().clear(p);
    auto claim = core_.claims.try_claim(c, /*reload=*/true);
    if (!claim) {
      core_.counters.faults_left_to_prefetch += pages.size();  // the claimant's wake releases it
      continue;
    }
    SharedImage* image = core_.installer.image();
    if (image && image->filled(c)) {  // another clone decoded it: map its pages, read nothing
      install_and_wake(*claim, PageData::image(), pages, core_.counters.chunks_from_image);
      continue;
    }
    std::optional<ChunkExtent> ext;
    try {
      ext = core_.source.chunk_extent(c);
    } catch (const std::exception& e) {
      claim->settle(ChunkState::kFailed);
      core_.counters.failed_chunks++;
      fail_pages(c, pages, e.what());
      continue;
    }
    if (!ext) {  // every page zero: nothing to read
      install_and_wake(*claim, PageData::zeros(), pages, core_.counters.zero_chunks_on_demand);
      continue;
    }
    jobs.push_back({std::move(*claim), std::move(pages), *ext, ByteBuffer(ext->length), 0});
  }
  return jobs;
}

void FaultServer::finish_job(Job& job) {
  const uint64_t c = job.claim.chunk();
  std::string error;
  if (job.result < 0)
    error = fmt::format("reading chunk {}: {}", c, std::strerror(-job.result));
  else if (static_cast<uint32_t>(job.result) != job.extent.length)
    error = fmt::format("reading chunk {}: short read ({} of {} bytes)", c, job.result, job.extent.length);
  if (error.empty()) {
    core_.counters.bytes_read += job.extent.length;
    decoded_.resize(core_.source.chunk_bytes(c));
    try {
      core_.source.decode_chunk(c, job.stored, decoded_);
      if (auto* image = core_.installer.image()) image->fill(c, decoded_, core_.source);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  if (!error.empty()) {
    job.claim.settle(ChunkState::kFailed);
    core_.counters.failed_chunks++;
    spdlog::error("lazy loader: chunk {}: {}", c, error);
    fail_pages(c, job.pages, error);
    return;
  }
  PageData data = core_.installer.image() ? PageData::image() : PageData::of(decoded_.data());
  install_and_wake(job.claim, data, job.pages, core_.counters.chunks_on_demand);
}

void FaultServer::install_and_wake(ChunkClaim& claim, PageData data, std::span<const uint64_t> faulting,
                                   std::atomic<uint64_t>& counter) {
  const bool around = core_.options.fault_around;
  const uint64_t c = claim.chunk();
  Installed r = core_.installer.install_range(core_.chunk_first(c), core_.chunk_end(c), data,
                                              around ? std::span<const uint64_t>() : faulting, false);
  // Interrupted by a pending REMOVE: the wake makes the thread fault again, and that new message
  // comes after the event in the queue.
  claim.settle(r == Installed::all && around ? ChunkState::kDone : ChunkState::kIdle);
  if (!claim.reload()) counter++;
  core_.installer.wake(claim);
}

void FaultServer::handle_remove(uint64_t start, uint64_t end) {
  for (const auto& s : core_.map.segments()) {
    uint64_t base = reinterpret_cast<uintptr_t>(s.host), limit = base + s.bytes();
    uint64_t a = std::max(start, base), b = std::min(end, limit);
    if (a >= b) continue;
    uint64_t first = s.first_page + (a - base) / kPageSize;
    uint64_t last = s.first_page + (b - base + kPageSize - 1) / kPageSize;
    for (uint64_t p = first; p < last; ++p) {
      core_.installer.removed().set(p);
      core_.installer.installed().clear(p);
    }
    for (uint64_t c = core_.chunk_of(first); c <= core_.chunk_of(last - 1); ++c) core_.claims.forget(c);
    core_.counters.pages_removed += last - first;
  }
}

void FaultServer::fail_pages(uint64_t chunk, std::span<const uint64_t> pages, const std::string& cause) {
  Userfaultfd& uffd = core_.installer.uffd();
  for (uint64_t p : pages) {
    std::byte* h = core_.map.host_of(p);
    core_.counters.failed_pages++;
    // The owner hears of it before the faulting thread is released.
    if (core_.options.on_failure) {
      try {
        core_.options.on_failure({h, core_.map.guest_addr_of(p), chunk, cause});
      } catch (const std::exception& e) {
        spdlog::error("lazy loader: failure callback threw: {}", e.what());
      }
    }
    if (core_.options.failed_pages == LazyLoaderOptions::FailedPages::kZeroFill) {
      core_.installer.zero_page_and_wake(p);
      continue;
    }
    if (uffd.has_poison())
      uffd.poison(h, kPageSize, false);  // EEXIST: present after all; the wake below releases it
    else if (::mprotect(h, kPageSize, PROT_NONE) < 0)
      spdlog::error("lazy loader: mprotect of failed page: {}", std::strerror(errno));
    uffd.wake(h, kPageSize);
  }
}

// The thread can no longer learn of faults: no access to a page still missing may hang or see
// made-up data. The owner hears why first; then every such page becomes what a failed page
// becomes (zeros for kZeroFill, else poisoned or PROT_NONE), and every waiter is woken.
void FaultServer::fail_everything(const std::string& cause) {
  spdlog::error("lazy loader: {}; failing every page not loaded yet", cause);
  core_.stopping = true;
  if (core_.options.on_failure) {
    try {
      core_.options.on_failure({nullptr, 0, kAllChunks, cause});
    } catch (const std::exception& e) {
      spdlog::error("lazy loader: failure callback threw: {}", e.what());
    }
  }
  Userfaultfd& uffd = core_.installer.uffd();
  auto& installed = core_.installer.installed();
  const bool zero_fill = core_.options.failed_pages == LazyLoaderOptions::FailedPages::kZeroFill;
  for (const auto& seg : core_.map.segments()) {
    for (uint64_t p = seg.first_page; p < seg.end_page();) {
      if (installed.test(p)) {
        ++p;
        continue;
      }
      uint64_t q = p + 1;
      while (q < seg.end_page() && !installed.test(q)) ++q;
      core_.counters.failed_pages += q - p;
      bool done = false;
      if (zero_fill)
        done = core_.installer.install_range(p, q, PageData::zeros(), {}, false) == Installed::all;
      else if (uffd.has_poison())
        done = uffd.poison(seg.host_of(p), (q - p) * kPageSize, false).error == 0;
      if (!done && ::mprotect(seg.host_of(p), (q - p) * kPageSize, PROT_NONE) < 0)
        spdlog::error("lazy loader: mprotect of pages that cannot be loaded: {}", std::strerror(errno));
      p = q;
    }
    uffd.wake(seg.host, seg.bytes());
  }
}

}  // namespace thaw::memory
