#include "snapshot/chunk_codec.h"

#include <lz4.h>
#include <zdict.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>

#include "base/error.h"
#include "snapshot/format.h"

namespace thaw::snapshot {

struct ZstdCompressionDictionary::Handle {
  ZSTD_CDict* cdict = nullptr;
};

ZstdCompressionDictionary::ZstdCompressionDictionary(std::span<const std::byte> dictionary, int level)
    : handle_(std::make_unique<Handle>()) {
  handle_->cdict = ZSTD_createCDict(dictionary.data(), dictionary.size(), level);
  if (!handle_->cdict) throw Error("zstd: cannot load a compression dictionary");
}

ZstdCompressionDictionary::~ZstdCompressionDictionary() { ZSTD_freeCDict(handle_->cdict); }

struct ZstdDecodingDictionary::Handle {
  ZSTD_DDict* ddict = nullptr;
};

ZstdDecodingDictionary::ZstdDecodingDictionary(std::span<const std::byte> dictionary)
    : handle_(std::make_unique<Handle>()) {
  if (ZDICT_getDictID(dictionary.data(), dictionary.size()) == 0) throw Error("not a zstd dictionary");
  handle_->ddict = ZSTD_createDDict(dictionary.data(), dictionary.size());
  if (!handle_->ddict) throw Error("zstd: cannot load a decoding dictionary");
}

ZstdDecodingDictionary::~ZstdDecodingDictionary() { ZSTD_freeDDict(handle_->ddict); }

std::vector<std::byte> train_zstd_dictionary(std::span<const std::span<const std::byte>> samples, size_t capacity) {
  std::vector<std::byte> joined;
  std::vector<size_t> sizes;
  for (auto s : samples) {
    joined.insert(joined.end(), s.begin(), s.end());
    sizes.push_back(s.size());
  }
  // zstd wants many samples, and a few times more bytes than the dictionary it makes.
  if (sizes.size() < 8 || joined.size() < 4 * capacity) return {};
  std::vector<std::byte> dict(capacity);
  size_t n = ZDICT_trainFromBuffer(dict.data(), dict.size(), joined.data(), sizes.data(),
                                   static_cast<unsigned>(sizes.size()));
  if (ZDICT_isError(n)) return {};
  dict.resize(n);
  return dict;
}

struct ChunkEncoder::Zstd {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ~Zstd() { ZSTD_freeCCtx(cctx); }
};

ChunkEncoder::ChunkEncoder(int lz4_acceleration, int zstd_level, const ZstdCompressionDictionary* dictionary)
    : lz4_acceleration_(lz4_acceleration),
      zstd_level_(zstd_level),
      dictionary_(dictionary),
      zstd_(std::make_unique<Zstd>()) {
  if (!zstd_->cctx) throw Error("zstd: cannot create a compression context");
}

ChunkEncoder::~ChunkEncoder() = default;

size_t ChunkEncoder::bound(size_t raw_bytes) {
  return std::max({raw_bytes, static_cast<size_t>(LZ4_compressBound(static_cast<int>(raw_bytes))),
                   ZSTD_compressBound(raw_bytes)});
}

Encoded ChunkEncoder::encode(Codec codec, std::span<const std::byte> raw, std::span<std::byte> out) {
  size_t n = 0;
  uint32_t encoding = kEncodingLz4;
  if (codec == Codec::kZstd) {
    size_t r = dictionary_ ? ZSTD_compress_usingCDict(zstd_->cctx, out.data(), out.size(), raw.data(), raw.size(),
                                                      dictionary_->handle().cdict)
                           : ZSTD_compressCCtx(zstd_->cctx, out.data(), out.size(), raw.data(), raw.size(), zstd_level_);
    n = ZSTD_isError(r) ? 0 : r;
    encoding = kEncodingZstd;
  } else {
    int r = LZ4_compress_fast(reinterpret_cast<const char*>(raw.data()), reinterpret_cast<char*>(out.data()),
                              static_cast<int>(raw.size()), static_cast<int>(out.size()), lz4_acceleration_);
    n = r > 0 ? static_cast<size_t>(r) : 0;
  }
  if (n > 0 && n < raw.size()) return {encoding, n};
  std::memcpy(out.data(), raw.data(), raw.size());
  return {kEncodingRaw, raw.size()};
}

namespace {

bool decode_zstd(std::span<const std::byte> stored, std::span<std::byte> out, const ZstdDecodingDictionary* dictionary) {
  // One context per decoding thread: creating one per chunk would cost more than the chunk.
  thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dctx) return false;
  size_t r = dictionary ? ZSTD_decompress_usingDDict(dctx.get(), out.data(), out.size(), stored.data(), stored.size(),
                                                     dictionary->handle().ddict)
                        : ZSTD_decompressDCtx(dctx.get(), out.data(), out.size(), stored.data(), stored.size());
  return !ZSTD_isError(r) && r == out.size();
}

}  // namespace

bool decode_chunk_object(uint32_t encoding, std::span<const std::byte> stored, std::span<std::byte> out,
                         const ZstdDecodingDictionary* dictionary) {
  switch (encoding) {
    case kEncodingRaw:
      if (stored.size() != out.size()) return false;
      std::memcpy(out.data(), stored.data(), stored.size());
      return true;
    case kEncodingLz4:
      return LZ4_decompress_safe(reinterpret_cast<const char*>(stored.data()), reinterpret_cast<char*>(out.data()),
                                 static_cast<int>(stored.size()), static_cast<int>(out.size())) ==
             static_cast<int>(out.size());
    case kEncodingZstd:
      return decode_zstd(stored, out, dictionary);
    default:
      return false;
  }
}

size_t max_stored_bytes(uint32_t encoding, size_t raw_bytes) {
  switch (encoding) {
    case kEncodingRaw: return raw_bytes;
    case kEncodingLz4: return static_cast<size_t>(LZ4_compressBound(static_cast<int>(raw_bytes)));
    case kEncodingZstd: return ZSTD_compressBound(raw_bytes);
    default: return 0;
  }
}

}  // namespace thaw::snapshot
