#pragma once
// How one chunk's non-zero pages are stored: lz4 (decodes fastest: the working set, on every
// restore's critical path), zstd (smaller: the chunks a restore loads in the background or
// never) or raw (when neither makes them smaller). zstd objects may use a dictionary trained on
// the chunks of one snapshot; it is stored in the pack that holds them (format.h's PackHeader),
// so an object reused by another snapshot finds it through its pack.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace thaw::snapshot {

enum class Codec { kLz4, kZstd };

struct Encoded {
  uint32_t encoding = 0;  // format.h's kEncoding*
  size_t bytes = 0;       // written to the output
};

// A zstd dictionary made ready for compression at one level. Read-only once built, so every
// encoder thread can share one.
class ZstdCompressionDictionary {
 public:
  ZstdCompressionDictionary(std::span<const std::byte> dictionary, int level);
  ~ZstdCompressionDictionary();
  ZstdCompressionDictionary(const ZstdCompressionDictionary&) = delete;
  ZstdCompressionDictionary& operator=(const ZstdCompressionDictionary&) = delete;
  struct Handle;
  const Handle& handle() const { return *handle_; }

 private:
  std::unique_ptr<Handle> handle_;
};

// A zstd dictionary made ready for decoding (one per pack that has one). Shared by threads.
class ZstdDecodingDictionary {
 public:
  // Throws thaw::Error when `dictionary` is not a zstd dictionary.
  explicit ZstdDecodingDictionary(std::span<const std::byte> dictionary);
  ~ZstdDecodingDictionary();
  ZstdDecodingDictionary(const ZstdDecodingDictionary&) = delete;
  ZstdDecodingDictionary& operator=(const ZstdDecodingDictionary&) = delete;
  struct Handle;
  const Handle& handle() const { return *handle_; }

 private:
  std::unique_ptr<Handle> handle_;
};

// Trains a zstd dictionary of at most `capacity` bytes on `samples` (chunk objects' raw
// bytes); empty when there is too little to learn from.
std::vector<std::byte> train_zstd_dictionary(std::span<const std::span<const std::byte>> samples, size_t capacity);

// One encoder per thread (it keeps zstd's context).
class ChunkEncoder {
 public:
  // `zstd_level`: zstd's compression level for Codec::kZstd (1..19). With `dictionary`, zstd
  // objects are compressed with it (and at its level); it must outlive the encoder.
  ChunkEncoder(int lz4_acceleration, int zstd_level, const ZstdCompressionDictionary* dictionary = nullptr);
  ~ChunkEncoder();
  ChunkEncoder(const ChunkEncoder&) = delete;
  ChunkEncoder& operator=(const ChunkEncoder&) = delete;

  // The most bytes encode() may write for `raw_bytes` of input, whatever the codec.
  static size_t bound(size_t raw_bytes);
  // Encodes `raw` into `out` (at least bound(raw.size()) bytes) with `codec`, or stores it raw
  // when that is no smaller.
  Encoded encode(Codec codec, std::span<const std::byte> raw, std::span<std::byte> out);

 private:
  struct Zstd;
  int lz4_acceleration_;
  int zstd_level_;
  const ZstdCompressionDictionary* dictionary_;
  std::unique_ptr<Zstd> zstd_;
};

// Decodes a stored object of `encoding` into exactly out.size() bytes; false when it is not a
// valid object of that size (or the encoding is unknown). zstd objects of a pack with a
// dictionary need it.
bool decode_chunk_object(uint32_t encoding, std::span<const std::byte> stored, std::span<std::byte> out,
                         const ZstdDecodingDictionary* dictionary = nullptr);
// The largest stored size an object of `raw_bytes` can have in `encoding` (for validation);
// 0 for an unknown encoding.
size_t max_stored_bytes(uint32_t encoding, size_t raw_bytes);

}  // namespace thaw::snapshot
