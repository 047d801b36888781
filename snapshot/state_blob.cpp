#include "snapshot/state_blob.h"

#include "base/error.h"
#include "snapshot/blob_file.h"
#include "snapshot/format.h"

namespace thaw::snapshot {

std::string state_blob_file_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 200 && name != "." && name != "..";
  for (char c : name)
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                c == '.');
  if (!ok) throw Error("state blob name \"" + std::string(name) + "\" must be [A-Za-z0-9_.-]+");
  return std::string(name) + ".state";
}

void write_state_blob(const std::filesystem::path& snapshot_dir, std::string_view name, std::span<const std::byte> bytes) {
  write_blob_file(snapshot_dir / state_blob_file_name(name), kStateBlobMagic, bytes);
}

std::vector<std::byte> read_state_blob(const std::filesystem::path& snapshot_dir, std::string_view name) {
  return read_blob_file(snapshot_dir / state_blob_file_name(name), kStateBlobMagic, 1ull << 30);
}

}  // namespace thaw::snapshot
