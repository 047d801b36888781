#pragma once
// Puts pages into lazily loaded guest memory through its userfaultfd and tracks what is there.
// Nothing it installs is woken by the install itself (DONTWAKE): the claimant of a chunk settles
// the chunk's state first and then wakes it with wake(), which takes settled claims only (see
// chunk_claims.h). Pages that must read as zeros (all-zero when saved, or dropped by madvise
// without reload_removed) go in with UFFDIO_ZEROPAGE, the rest with UFFDIO_COPY, in runs as long
// as the kinds allow.
//
// Outcomes the kernel reports as normal are handled here: EEXIST (the page is there already:
// stepped over), EAGAIN (a REMOVE event is pending: retried for a while when asked, else the
// install stops as `interrupted` and the caller's wake makes the thread fault again, after the
// event), ENOENT/ESRCH (the memory or the process is going away: `gone`).
#include <cstdint>
#include <span>

#include "memory/chunk_claims.h"
#include "memory/loader_counters.h"
#include "memory/page_bitmap.h"
#include "memory/page_source.h"
#include "memory/page_space_map.h"
#include "memory/userfaultfd.h"

namespace thaw::memory {

enum class Installed { all, interrupted, gone };

class PageInstaller {
 public:
  PageInstaller(const PageSpaceMap& map, const PageSource& source, bool reload_removed, LoaderCounters& counters);
  ~PageInstaller();  // unregisters the memory
  PageInstaller(const PageInstaller&) = delete;
  PageInstaller& operator=(const PageInstaller&) = delete;

  Userfaultfd& uffd() { return uffd_; }
  AtomicBitmap& installed() { return installed_; }
  // Pages dropped by UFFD_EVENT_REMOVE since the restore began.
  AtomicBitmap& removed() { return removed_; }

  // Installs pages [first, end) of page space from `data`, their decoded bytes (nullptr: all
  // zero). With `only` non-empty, just those pages (tried whatever the bitmap says); else every
  // page still missing.
  Installed install_range(uint64_t first, uint64_t end, const std::byte* data, std::span<const uint64_t> only,
                          bool retry_eagain);
  // One page as zeros, woken at once (a page whose content is known to be zeros or lost).
  Installed zero_page_and_wake(uint64_t page);
  // Wakes every page of settled claims' chunks: one UFFDIO_WAKE per segment they touch (which
  // may also wake threads waiting on pages in between: they simply fault again). Throws
  // std::logic_error on a claim not settled yet.
  void wake(std::span<const ChunkClaim> claims);
  void wake(const ChunkClaim& claim) { wake(std::span<const ChunkClaim>(&claim, 1)); }

 private:
  enum class Fill { skip, zero, data };
  Fill fill_of(uint64_t page) const;
  Installed install_run(Fill fill, std::byte* host, const std::byte* src, uint64_t first_page, uint64_t pages,
                        bool retry_eagain);

  const PageSpaceMap& map_;
  const PageSource& source_;
  const bool reload_removed_;
  LoaderCounters& counters_;
  Userfaultfd uffd_;
  AtomicBitmap installed_;
  AtomicBitmap removed_;
};

}  // namespace thaw::memory
