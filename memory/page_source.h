#pragma once
// The one interface memory/ needs from whatever stores guest memory (snapshot/ implements it).
//
// Guest memory is seen as one flat array of pages ("page space"); regions map guest
// addresses onto ranges of it. Page space is cut into chunks: chunk c covers the
// guest-contiguous pages [c * pages_per_chunk(), (c + 1) * pages_per_chunk()), the last one
// possibly shorter. A chunk is the unit of I/O, decompression and fault-around.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>

namespace thaw::memory {

// Where a chunk's stored (encoded) bytes lie: read `length` bytes of `fd` at `offset`.
struct ChunkExtent {
  int fd = -1;
  uint64_t offset = 0;
  uint32_t length = 0;
};

// A chunk could not be read or decoded (I/O error, checksum mismatch, bad encoding).
class PageSourceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class PageSource {
 public:
  virtual ~PageSource() = default;

  virtual size_t page_size() const = 0;
  virtual uint64_t page_count() const = 0;
  virtual uint32_t pages_per_chunk() const = 0;
  uint64_t chunk_count() const { return (page_count() + pages_per_chunk() - 1) / pages_per_chunk(); }
  // Bytes of guest memory chunk `chunk` covers (pages_per_chunk() pages, less for the last).
  size_t chunk_bytes(uint64_t chunk) const;

  // True if the page was all zeros when saved: it is never read, only zero-filled.
  virtual bool page_is_zero(uint64_t page) const = 0;
  // Where the chunk's stored bytes are; nullopt if every page of the chunk is zero.
  virtual std::optional<ChunkExtent> chunk_extent(uint64_t chunk) const = 0;
  // Verifies and decodes stored bytes (as read from chunk_extent) into `out`, which is
  // exactly chunk_bytes(chunk) long; zero pages inside the chunk come out zero.
  // Thread-safe. Throws PageSourceError on a checksum mismatch or bad encoding.
  virtual void decode_chunk(uint64_t chunk, std::span<const std::byte> stored, std::span<std::byte> out) const = 0;
};

inline size_t PageSource::chunk_bytes(uint64_t chunk) const {
  uint64_t first = chunk * pages_per_chunk();
  uint64_t n = page_count() - first < pages_per_chunk() ? page_count() - first : pages_per_chunk();
  return static_cast<size_t>(n * page_size());
}

}  // namespace thaw::memory
