#pragma once
// One decoded copy of a snapshot's memory per host, shared by all of its clones.
//
// The copy is a sparse memfd the size of the snapshot's page space ("data"): a chunk's non-zero
// pages are written into it once, by whichever clone needs the chunk first, and every clone maps
// the file MAP_PRIVATE as its guest memory, so a page nobody wrote exists once in the host's page
// cache and a clone that writes a page copies only that page (as Firecracker maps its memory
// file; the lazy loader installs the file's pages with UFFDIO_CONTINUE, see page_installer.h).
// Zero pages are never written: they stay holes, and clones map the zero page for them.
//
// A second, small memfd ("index") holds one byte per chunk: set once the chunk's pages are all
// in the data file. Fills take no locks: two clones that fill one chunk at once write the same
// bytes, so a clone that maps a page while another rewrites it reads the same values either way,
// and a clone that dies mid-fill leaves the chunk unmarked for the next one to fill.
//
// Both descriptors travel to the VMM processes of the snapshot's clones (fds()); each process
// opens its own view with attach(). Pages in the copy are charged to the memory cgroup of the
// process that wrote them first.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "base/mapping.h"
#include "base/unique_fd.h"
#include "memory/page_source.h"

namespace thaw::memory {

// The two descriptors of a SharedImage, borrowed (SharedImage::attach duplicates them).
struct SharedImageFds {
  int data_fd = -1;
  int index_fd = -1;
};

class SharedImage {
 public:
  // A new, empty copy for a source of this shape. Throws SystemError naming the call.
  static SharedImage create(uint64_t page_count, uint32_t pages_per_chunk, const std::string& name);
  // Another process's view of a copy made by create(), from its two descriptors (duplicated).
  // Throws thaw::Error when they do not hold a copy of this shape.
  static SharedImage attach(int data_fd, int index_fd, uint64_t page_count, uint32_t pages_per_chunk);
  static SharedImage attach(SharedImageFds fds, uint64_t page_count, uint32_t pages_per_chunk) {
    return attach(fds.data_fd, fds.index_fd, page_count, pages_per_chunk);
  }
  // This kernel can back guest memory with a shared image (userfaultfd minor faults on shared
  // memory, Linux 5.14+).
  static bool supported();

  SharedImageFds fds() const { return {data_.get(), index_fd_.get()}; }
  int data_fd() const { return data_.get(); }
  int index_fd() const { return index_fd_.get(); }
  uint64_t page_count() const { return page_count_; }

  // The chunk's pages are all in the data file.
  bool filled(uint64_t chunk) const;
  // Writes the non-zero pages of `decoded` (the chunk's bytes, as PageSource::decode_chunk gives
  // them) into the data file, then marks the chunk filled. Throws SystemError when the host has
  // no memory left for them.
  void fill(uint64_t chunk, std::span<const std::byte> decoded, const PageSource& source);
  // Chunks filled so far, and the bytes the data file holds (zero pages are holes).
  uint64_t filled_chunks() const;
  uint64_t filled_bytes() const;

 private:
  SharedImage() = default;
  UniqueFd data_;
  UniqueFd index_fd_;
  Mapping index_;  // one byte per chunk, MAP_SHARED
  uint64_t page_count_ = 0;
  uint32_t pages_per_chunk_ = 0;
};

}  // namespace thaw::memory
