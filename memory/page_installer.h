#pragma once
// Puts pages into lazily loaded guest memory through its userfaultfd and tracks what is there.
// With a SharedImage, the bound memory becomes a private mapping of the image's file
// (registered for MISSING and MINOR faults) and a chunk's pages are mapped from the file with
// UFFDIO_CONTINUE once the chunk is in it, instead of copied: every clone of the snapshot maps
// the same page-cache pages, and a write copies only the page written.
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

// What a range's non-zero pages are installed from.
struct PageData {
  enum class From { zeros, bytes, image } from = From::zeros;
  const std::byte* bytes = nullptr;  // From::bytes: the range's decoded bytes
  static PageData zeros() { return {}; }
  static PageData of(const std::byte* b) { return {From::bytes, b}; }
  static PageData image() { return {From::image, nullptr}; }  // the chunks are filled in the image
};

class SharedImage;
class PageInstaller {
 public:
  // `image` (optional) must outlive the installer.
  PageInstaller(const PageSpaceMap& map, const PageSource& source, bool reload_removed, LoaderCounters& counters,
                SharedImage* image = nullptr);
  ~PageInstaller();  // unregisters the memory (a private mapping of the image stays, for good)
  PageInstaller(const PageInstaller&) = delete;
  PageInstaller& operator=(const PageInstaller&) = delete;

  Userfaultfd& uffd() { return uffd_; }
  SharedImage* image() const { return image_; }
  AtomicBitmap& installed() { return installed_; }
  // Pages dropped by UFFD_EVENT_REMOVE since the restore began.
  AtomicBitmap& removed() { return removed_; }

  // Installs pages [first, end) of page space from `data`. With `only` non-empty, just those
  // pages (tried whatever the bitmap says); else every page still missing.
  Installed install_range(uint64_t first, uint64_t end, PageData data, std::span<const uint64_t> only,
                          bool retry_eagain);
  // One page as zeros, woken at once (a page whose content is known to be zeros or lost).
  Installed zero_page_and_wake(uint64_t page);
  // Wakes every page of settled claims' chunks: one UFFDIO_WAKE per segment they touch (which
  // may also wake threads waiting on pages in between: they simply fault again). Throws
  // std::logic_error on a claim not settled yet.
  void wake(std::span<const ChunkClaim> claims);
  void wake(const ChunkClaim& claim) { wake(std::span<const ChunkClaim>(&claim, 1)); }

 private:
  enum class Fill { skip, zero, copy, map };
  Fill fill_of(uint64_t page, PageData data) const;
  Installed install_run(Fill fill, std::byte* host, const std::byte* src, uint64_t first_page, uint64_t pages,
                        bool retry_eagain);

  const PageSpaceMap& map_;
  const PageSource& source_;
  const bool reload_removed_;
  LoaderCounters& counters_;
  SharedImage* image_;
  Userfaultfd uffd_;
  AtomicBitmap installed_;
  AtomicBitmap removed_;
};

}  // namespace thaw::memory
