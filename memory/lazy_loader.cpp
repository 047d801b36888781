// The lazy loader in its parts: where pages live (page_space_map), who installs which chunk
// (chunk_claims), installing (page_installer), the fault thread (fault_server) and loading in
// bulk (prefetcher). This file puts them together and owns their order of teardown.
#include "memory/lazy_loader.h"

#include <algorithm>
#include <thread>

#include "base/error.h"
#include "base/log.h"
#include "memory/fault_server.h"
#include "memory/loader_core.h"
#include "memory/prefetcher.h"

namespace thaw::memory {
namespace {

LazyLoaderOptions checked(LazyLoaderOptions o, const PageSource& source) {
  if (source.page_size() != kPageSize)
    throw Error("lazy loader: page source has " + std::to_string(source.page_size()) + "-byte pages, expected 4096");
  if (source.pages_per_chunk() == 0) throw Error("lazy loader: page source has empty chunks");
  o.fault_io_depth = std::max(1u, o.fault_io_depth);
  o.prefetch_io_depth = std::max(1u, o.prefetch_io_depth);
  o.prefetch_batch_chunks = std::max<uint32_t>(1, o.prefetch_batch_chunks);
  return o;
}

}  // namespace

LoaderCore::LoaderCore(const GuestMemory& memory, const PageSource& src, std::span<const RegionBinding> bindings,
                       LazyLoaderOptions opts)
    : source(src),
      options(checked(std::move(opts), src)),
      page_count(src.page_count()),
      chunk_count(src.chunk_count()),
      map(memory, bindings, page_count),
      installer(map, src, options.reload_removed || options.shared_image, counters, options.shared_image),
      claims(chunk_count),
      recorder(chunk_count, options.record_working_set) {}

// Members in the order they must start; they end in reverse: the prefetch threads first (the
// core's `stopping` set), then the fault thread, then the core (unregistering the memory).
struct LazyLoader::Impl {
  Impl(const GuestMemory& memory, const PageSource& source, std::span<const RegionBinding> bindings,
       LazyLoaderOptions options)
      : core(memory, source, bindings, std::move(options)), faults(core), prefetcher(core) {}
  ~Impl() { core.stopping = true; }

  LoaderCore core;
  FaultServer faults;
  Prefetcher prefetcher;
};

LazyLoader::LazyLoader(const GuestMemory& memory, const PageSource& source, std::span<const RegionBinding> bindings,
                       LazyLoaderOptions options)
    : impl_(std::make_unique<Impl>(memory, source, bindings, std::move(options))) {}

LazyLoader::~LazyLoader() {
  RestoreStats s = stats();
  impl_.reset();
  spdlog::info("lazy restore: {}", to_string(s));
}

void LazyLoader::start_prefetch(std::vector<uint64_t> chunks, bool background) {
  impl_->prefetcher.start(std::move(chunks), background);
}

void LazyLoader::wait_prefetch() { impl_->prefetcher.join(); }
void LazyLoader::wait_prefetch_working_set() { impl_->prefetcher.wait_working_set(); }

void LazyLoader::load_all() {
  LoaderCore& core = impl_->core;
  BatchLoader loader(core, core.options.prefetch_io_depth);
  for (int round = 0;; ++round) {
    std::vector<uint64_t> missing;
    for (uint64_t c = 0; c < core.chunk_count; ++c) {
      bool any = false;
      core.map.for_each_run(core.chunk_first(c), core.chunk_end(c), [&](const auto&, uint64_t p, uint64_t q) {
        for (; p < q && !any; ++p) any = !core.installer.installed().test(p);
      });
      if (!any) continue;
      if (core.claims.state(c) == ChunkState::kFailed)
        throw PageSourceError(fmt::format("chunk {} of guest memory cannot be loaded", c));
      core.claims.forget(c);  // done, yet the bits say pages went missing again
      missing.push_back(c);
    }
    if (missing.empty()) return;
    bool failed = false;
    core.counters.chunks_background += loader.load(missing, &failed);
    if (failed) throw PageSourceError("guest memory cannot be loaded completely: a chunk failed to read or decode");
    if (round > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // others hold claims
  }
}

std::vector<std::pair<uint64_t, uint64_t>> LazyLoader::guest_ranges(std::span<const uint64_t> chunks) const {
  const LoaderCore& core = impl_->core;
  std::vector<uint64_t> sorted(chunks.begin(), chunks.end());
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (uint64_t c : sorted) {
    if (c >= core.chunk_count) break;
    core.map.for_each_run(core.chunk_first(c), core.chunk_end(c), [&](const auto& seg, uint64_t p, uint64_t q) {
      uint64_t addr = seg.guest_addr + (p - seg.first_page) * kPageSize, len = (q - p) * kPageSize;
      if (!ranges.empty() && ranges.back().first + ranges.back().second == addr)
        ranges.back().second += len;
      else
        ranges.emplace_back(addr, len);
    });
  }
  return ranges;
}

std::vector<uint64_t> LazyLoader::stop_recording() { return impl_->core.recorder.stop(); }
std::vector<uint64_t> LazyLoader::working_set() const { return impl_->core.recorder.chunks(); }
bool LazyLoader::uses_poison() const { return impl_->core.installer.uffd().has_poison(); }
int LazyLoader::fault_fd_for_testing() const { return impl_->faults.fault_fd(); }
RestoreStats LazyLoader::stats() const { return impl_->core.counters.snapshot(); }

}  // namespace thaw::memory
