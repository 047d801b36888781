#pragma once
// The bytes of a page index file (pages.idx; FORMAT.md): header, zero bitmap, chunk records.
// The writer and the repack both build one; the reader parses it.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "snapshot/format.h"

namespace thaw::snapshot {

std::vector<std::byte> serialize_page_index(uint32_t pages_per_chunk, uint64_t page_count, uint32_t pack_count,
                                            std::span<const uint64_t> zero_bitmap,
                                            std::span<const ChunkRecord> records);

}  // namespace thaw::snapshot
