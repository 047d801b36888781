#include "memory/page_installer.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/log.h"
#include "memory/shared_image.h"

namespace thaw::memory {

PageInstaller::PageInstaller(const PageSpaceMap& map, const PageSource& source, bool reload_removed,
                             LoaderCounters& counters, SharedImage* image)
    : map_(map),
      source_(source),
      reload_removed_(reload_removed),
      counters_(counters),
      image_(image),
      uffd_(Userfaultfd::open()),
      installed_(source.page_count()),
      removed_(source.page_count()) {
  if (image_ && image_->page_count() != source.page_count())
    throw Error("lazy loader: the shared image has " + std::to_string(image_->page_count()) + " pages, the source " +
                std::to_string(source.page_count()));
  for (const auto& s : map_.segments()) {
    if (image_) {
      // The segment becomes a private view of its pages in the image, in place.
      void* p = ::mmap(s.host, s.bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, image_->data_fd(),
                       static_cast<off_t>(s.first_page * kPageSize));
      if (p == MAP_FAILED) throw_errno("mmap", "guest memory over the shared image");
      uffd_.register_missing_and_minor(s.host, s.bytes());
    } else {
      uffd_.register_missing(s.host, s.bytes());
    }
  }
}

PageInstaller::~PageInstaller() {
  for (const auto& s : map_.segments()) uffd_.unregister(s.host, s.bytes());
}

PageInstaller::Fill PageInstaller::fill_of(uint64_t page, PageData data) const {
  if (data.from == PageData::From::zeros || (!reload_removed_ && removed_.test(page)) || source_.page_is_zero(page))
    return Fill::zero;
  return data.from == PageData::From::image ? Fill::map : Fill::copy;
}

Installed PageInstaller::install_run(Fill fill, std::byte* host, const std::byte* src, uint64_t first_page,
                                     uint64_t pages, bool retry_eagain) {
  uint64_t done = 0;
  int eagain_left = retry_eagain ? 2000 : 0;
  while (done < pages) {
    size_t len = (pages - done) * kPageSize;
    std::byte* dst = host + done * kPageSize;
    Userfaultfd::Result r = fill == Fill::zero  ? uffd_.zeropage(dst, len, false)
                            : fill == Fill::map ? uffd_.continue_mapping(dst, len, false)
                                                : uffd_.copy(dst, src + done * kPageSize, len, false);
    uint64_t n = r.bytes / kPageSize;
    installed_.set_range(first_page + done, n);
    (fill == Fill::zero ? counters_.zero_bytes_installed
     : fill == Fill::map ? counters_.bytes_mapped
                         : counters_.bytes_installed) += n * kPageSize;
    done += n;
    if (r.error == 0) continue;
    if (r.error == EEXIST) {  // that page is already present: step over it
      installed_.set(first_page + done);
      ++done;
    } else if (r.error == EAGAIN) {
      counters_.retries++;
      if (eagain_left-- <= 0) return Installed::interrupted;
      std::this_thread::sleep_for(std::chrono::microseconds(50));  // the fault thread reads the pending event
    } else if (r.error == EFAULT) {
      throw Error(fmt::format("lazy loader: page {} is not in the shared image it was filled into", first_page + done));
    } else {
      return Installed::gone;
    }
  }
  return Installed::all;
}

Installed PageInstaller::install_range(uint64_t first, uint64_t end, PageData data, std::span<const uint64_t> only,
                                       bool retry_eagain) {
  auto fill_at = [&](uint64_t p) {
    bool wanted = only.empty() ? !installed_.test(p) : std::find(only.begin(), only.end(), p) != only.end();
    return wanted ? fill_of(p, data) : Fill::skip;
  };
  Installed result = Installed::all;
  map_.for_each_run(first, end, [&](const PageSpaceMap::Segment& seg, uint64_t p, uint64_t seg_end) {
    while (p < seg_end && result == Installed::all) {
      Fill f = fill_at(p);
      uint64_t q = p + 1;
      while (q < seg_end && fill_at(q) == f) ++q;
      if (f != Fill::skip) {
        const std::byte* src = data.bytes ? data.bytes + (p - first) * kPageSize : nullptr;
        result = install_run(f, seg.host_of(p), src, p, q - p, retry_eagain);
      }
      p = q;
    }
  });
  return result;
}

Installed PageInstaller::zero_page_and_wake(uint64_t page) {
  std::byte* h = map_.host_of(page);
  Installed r = install_run(Fill::zero, h, nullptr, page, 1, false);
  uffd_.wake(h, kPageSize);
  return r;
}

void PageInstaller::wake(std::span<const ChunkClaim> claims) {
  std::vector<std::pair<std::byte*, std::byte*>> ranges(map_.segments().size(), {nullptr, nullptr});  // [lo, hi)
  const auto* base = map_.segments().data();
  for (const auto& claim : claims) {
    if (!claim.settled()) throw std::logic_error("lazy loader: a chunk's pages woken before its state was settled");
    uint64_t first = claim.chunk() * source_.pages_per_chunk();
    uint64_t end = std::min(first + source_.pages_per_chunk(), source_.page_count());
    map_.for_each_run(first, end, [&](const PageSpaceMap::Segment& seg, uint64_t p, uint64_t q) {
      auto& range = ranges[static_cast<size_t>(&seg - base)];
      std::byte* lo = seg.host_of(p);
      std::byte* hi = seg.host_of(q);
      range.first = range.first ? std::min(range.first, lo) : lo;
      range.second = std::max(range.second, hi);
    });
  }
  for (auto& [lo, hi] : ranges)
    if (lo) uffd_.wake(lo, static_cast<size_t>(hi - lo));
}

}  // namespace thaw::memory
