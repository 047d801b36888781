#include "snapshot/page_index.h"

#include <cstring>

#include "snapshot/file_io.h"

namespace thaw::snapshot {

std::vector<std::byte> serialize_page_index(uint32_t pages_per_chunk, uint64_t page_count, uint32_t pack_count,
                                            std::span<const uint64_t> zero_bitmap,
                                            std::span<const ChunkRecord> records) {
  PageIndexHeader h{};
  h.file = make_file_header(kPageIndexMagic, sizeof h);
  h.page_size = kPageSize;
  h.pages_per_chunk = pages_per_chunk;
  h.page_count = page_count;
  h.chunk_count = records.size();
  h.pack_count = pack_count;
  std::vector<std::byte> index(sizeof h + zero_bitmap.size_bytes() + records.size_bytes());
  std::memcpy(index.data(), &h, sizeof h);
  std::memcpy(index.data() + sizeof h, zero_bitmap.data(), zero_bitmap.size_bytes());
  std::memcpy(index.data() + sizeof h + zero_bitmap.size_bytes(), records.data(), records.size_bytes());
  return index;
}

}  // namespace thaw::snapshot
