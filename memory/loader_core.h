#pragma once
// What every thread of one LazyLoader shares: the source, the options, where pages live, who
// installs which chunk, the installer, the figures and the working-set recorder. Built before
// any thread starts and outlives them all.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>

#include "memory/chunk_claims.h"
#include "memory/lazy_loader.h"
#include "memory/loader_counters.h"
#include "memory/page_installer.h"
#include "memory/page_space_map.h"
#include "memory/working_set_recorder.h"

namespace thaw::memory {

struct LoaderCore {
  using Clock = std::chrono::steady_clock;
  // Throws thaw::Error for a source or bindings the loader cannot serve.
  LoaderCore(const GuestMemory& memory, const PageSource& source, std::span<const RegionBinding> bindings,
             LazyLoaderOptions options);

  uint64_t chunk_first(uint64_t c) const { return c * source.pages_per_chunk(); }
  uint64_t chunk_end(uint64_t c) const { return std::min(chunk_first(c) + source.pages_per_chunk(), page_count); }
  uint64_t chunk_of(uint64_t page) const { return page / source.pages_per_chunk(); }
  int64_t ns_since_start() const { return (Clock::now() - start).count(); }

  const PageSource& source;
  LazyLoaderOptions options;
  const uint64_t page_count;
  const uint64_t chunk_count;
  const Clock::time_point start = Clock::now();
  PageSpaceMap map;
  LoaderCounters counters;
  PageInstaller installer;
  ChunkClaims claims;
  WorkingSetRecorder recorder;
  // The loader is going away, or its fault thread has failed for good: prefetching stops.
  std::atomic<bool> stopping{false};
};

}  // namespace thaw::memory
