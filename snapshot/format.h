#pragma once
// On-disk constants and fixed-layout records of a snapshot (snapshot/FORMAT.md is the prose).
// Every binary record is little-endian with explicit widths and no implicit padding, so the
// structs below are written and read as raw bytes (static_asserts pin their sizes).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace thaw::snapshot {

// Format version of the snapshot as a whole (manifest "format"). A reader refuses a different
// major version; a newer minor version only adds fields it may ignore.
inline constexpr uint32_t kFormatMajor = 1;
// 1.1 added zstd chunk objects (kEncodingZstd) and pack dictionaries (PackHeader); a 1.0
// reader refuses such chunks with a clear error rather than misreading them.
inline constexpr uint32_t kFormatMinor = 1;

inline constexpr uint32_t kPageSize = 4096;
inline constexpr uint32_t kMaxPagesPerChunk = 1024;  // 4 MiB chunks at most

// Names inside a snapshot directory.
inline constexpr std::string_view kManifestName = "manifest.json";
inline constexpr std::string_view kPageIndexName = "pages.idx";
inline constexpr std::string_view kWorkingSetName = "working_set.bin";
inline constexpr std::string_view kWrittenPagesName = "written_pages.bin";
inline constexpr std::string_view kDefaultStoreName = "store";  // chunk store when none is shared
inline constexpr std::string_view kPackDirName = "packs";       // inside a chunk store

inline constexpr char kPageIndexMagic[8] = {'T', 'H', 'A', 'W', 'P', 'I', 'D', 'X'};
inline constexpr char kPackMagic[8] = {'T', 'H', 'A', 'W', 'P', 'A', 'C', 'K'};
inline constexpr char kPackIndexMagic[8] = {'T', 'H', 'A', 'W', 'P', 'K', 'I', 'X'};
inline constexpr char kWorkingSetMagic[8] = {'T', 'H', 'A', 'W', 'W', 'S', 'E', 'T'};
inline constexpr char kWrittenPagesMagic[8] = {'T', 'H', 'A', 'W', 'W', 'R', 'I', 'T'};
inline constexpr char kStateBlobMagic[8] = {'T', 'H', 'A', 'W', 'S', 'T', 'A', 'T'};

// Version of each binary file kind (major refuses, minor tolerated), in its header.
inline constexpr uint16_t kBinaryMajor = 1;
inline constexpr uint16_t kBinaryMinor = 0;

// Common 16-byte header of every binary file.
struct FileHeader {
  char magic[8];
  uint16_t major;
  uint16_t minor;
  uint32_t header_bytes;  // size of the whole header of this file kind (room to grow)
};
static_assert(sizeof(FileHeader) == 16);

// pages.idx: FileHeader + PageIndexHeader, zero bitmap, ChunkRecord table.
struct PageIndexHeader {
  FileHeader file;
  uint32_t page_size;
  uint32_t pages_per_chunk;
  uint64_t page_count;
  uint64_t chunk_count;
  uint32_t pack_count;
  uint32_t reserved;
};
static_assert(sizeof(PageIndexHeader) == 48);

// Chunk encodings (ChunkRecord::encoding).
enum : uint32_t {
  kEncodingNone = 0,  // chunk not stored: every page is zero
  kEncodingLz4 = 1,   // LZ4 block of the chunk's non-zero pages, concatenated in page order
  kEncodingRaw = 2,   // the non-zero pages, uncompressed (no codec made them smaller)
  kEncodingZstd = 3,  // zstd frame of the chunk's non-zero pages (chunks off the working set)
};

// One chunk of page space. The stored object holds only the chunk's non-zero pages; the zero
// bitmap says where they go.
struct ChunkRecord {
  uint64_t hash_low;      // xxh3-128 of the non-zero pages (content address)
  uint64_t hash_high;
  uint64_t offset;        // in the pack file
  uint32_t stored_bytes;  // bytes in the pack
  uint32_t raw_bytes;     // non-zero pages * page_size
  uint32_t pack;          // index into the manifest's pack list
  uint32_t encoding;
  uint64_t checksum;      // xxh3-64 of the stored bytes
};
static_assert(sizeof(ChunkRecord) == 48);

// packs/<name>.pack: PackHeader, then stored chunk objects back to back. A pack may hold one
// zstd dictionary (an object like the others, not in the pack index): every zstd object of the
// pack was compressed with it. dictionary_bytes 0 = none.
struct PackHeader {
  FileHeader file;
  uint64_t dictionary_offset;
  uint32_t dictionary_bytes;
  uint32_t reserved;
};
static_assert(sizeof(PackHeader) == 32);

// packs/<name>.idx: FileHeader + PackIndexHeader, PackEntry table, xxh3-64 of all before it.
// Lets later writers into the same store find chunks already stored (dedupe across snapshots).
struct PackIndexHeader {
  FileHeader file;
  uint64_t entry_count;
  uint64_t pack_bytes;  // size of the pack file when it was sealed
};
static_assert(sizeof(PackIndexHeader) == 32);

struct PackEntry {
  uint64_t hash_low;
  uint64_t hash_high;
  uint64_t offset;
  uint32_t stored_bytes;
  uint32_t raw_bytes;
  uint32_t encoding;
  uint32_t reserved;
  uint64_t checksum;
};
static_assert(sizeof(PackEntry) == 48);

// working_set.bin and <name>.state: FileHeader + BlobHeader, then the payload.
struct BlobHeader {
  FileHeader file;
  uint64_t payload_bytes;
  uint64_t checksum_low;  // xxh3-128 of the payload
  uint64_t checksum_high;
  uint64_t reserved;
};
static_assert(sizeof(BlobHeader) == 48);

}  // namespace thaw::snapshot
