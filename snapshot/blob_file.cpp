#include "snapshot/blob_file.h"

#include <cstring>

#include "base/error.h"
#include "snapshot/file_io.h"
#include "snapshot/format.h"

namespace thaw::snapshot {

void write_blob_file(const std::filesystem::path& file, const char (&magic)[8], std::span<const std::byte> payload) {
  BlobHeader h{};
  h.file = make_file_header(magic, sizeof h);
  h.payload_bytes = payload.size();
  Hash128 sum = hash128(payload);
  h.checksum_low = sum.low;
  h.checksum_high = sum.high;
  std::vector<std::byte> data(sizeof h + payload.size());
  std::memcpy(data.data(), &h, sizeof h);
  if (!payload.empty()) std::memcpy(data.data() + sizeof h, payload.data(), payload.size());
  write_file_atomic(file, data);
}

std::vector<std::byte> read_blob_file(const std::filesystem::path& file, const char (&magic)[8], uint64_t max_payload) {
  auto data = read_whole_file(file, max_payload + (1u << 20));
  if (data.size() < sizeof(BlobHeader)) throw Error(file.string() + ": truncated header");
  BlobHeader h;
  std::memcpy(&h, data.data(), sizeof h);
  check_file_header(h.file, magic, sizeof h, file);
  if (h.file.header_bytes > data.size()) throw Error(file.string() + ": truncated header");
  if (h.reserved != 0) throw Error(file.string() + ": reserved header field is not zero");
  uint64_t have = data.size() - h.file.header_bytes;
  if (have != h.payload_bytes)
    throw Error(file.string() + ": payload is " + std::to_string(have) + " bytes, header says " +
                std::to_string(h.payload_bytes) + (have < h.payload_bytes ? " (truncated)" : ""));
  std::vector<std::byte> payload(data.begin() + h.file.header_bytes, data.end());
  if (hash128(payload) != Hash128{h.checksum_low, h.checksum_high}) throw Error(file.string() + ": checksum mismatch");
  return payload;
}

}  // namespace thaw::snapshot
