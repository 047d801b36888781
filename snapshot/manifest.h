#pragma once
// manifest.json: the root of a snapshot. Written last and atomically, so a directory whose
// manifest parses and verifies is a complete snapshot. It names the format version, the guest
// memory layout, the page store (index, chunk store, packs, totals) and the size and xxh3-128
// of every other file of the snapshot, and carries its own checksum. Other rooms add their
// files (state blobs) to `files` and their fields to `metadata`.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "snapshot/file_io.h"

namespace thaw::snapshot {

// A guest memory region's place in page space: guest [guest_addr, guest_addr + page_count *
// page_size) is pages [first_page, first_page + page_count).
struct RegionLayout {
  uint64_t guest_addr = 0;
  uint64_t first_page = 0;
  uint64_t page_count = 0;
  bool operator==(const RegionLayout&) const = default;
};

// A pack file of the chunk store that this snapshot's chunks live in, and its size when sealed.
struct PackRef {
  std::string name;
  uint64_t bytes = 0;
};

// Totals of a page store, as the writer counted them (thaw inspect shows them).
struct PageStoreTotals {
  uint64_t pages = 0;           // guest pages (page-space padding between regions not counted)
  uint64_t zero_pages = 0;      // guest pages that were all zeros (never stored)
  uint64_t chunks = 0;          // chunks holding at least one non-zero page
  uint64_t stored_chunks = 0;   // chunk objects this write added to the store
  uint64_t dedupe_hits = 0;     // chunks whose content was already stored (here or before)
  uint64_t raw_bytes = 0;       // guest bytes: pages * page_size
  uint64_t stored_bytes = 0;    // bytes this write added to the store
  uint64_t referenced_bytes = 0;  // bytes of every distinct chunk object the snapshot uses
};

struct FileEntry {
  uint64_t bytes = 0;
  Hash128 xxh3_128;
};

struct Manifest {
  uint32_t format_major = kFormatMajor;
  uint32_t format_minor = kFormatMinor;
  std::string engine_version;
  std::string created;  // UTC, ISO 8601 ("2026-11-22T21:30:00Z")
  uint32_t page_size = kPageSize;
  uint32_t pages_per_chunk = 0;
  uint64_t page_count = 0;
  uint64_t chunk_count = 0;
  std::vector<RegionLayout> regions;
  std::string page_index = std::string(kPageIndexName);
  std::string store;  // chunk store directory: relative to the snapshot directory, or absolute
  std::vector<PackRef> packs;
  PageStoreTotals totals;
  std::map<std::string, FileEntry> files;  // every other file of the snapshot directory
  nlohmann::json metadata = nlohmann::json::object();
};

// The exact bytes of manifest.json (canonical JSON with its checksum).
std::string serialize_manifest(const Manifest& m);
// Parses and validates manifest text; `file` names it in errors. Throws thaw::Error on
// malformed JSON, a missing or mistyped field, an unknown major version, a checksum mismatch,
// a non-canonical text (edited by hand), or an inconsistent layout.
Manifest parse_manifest(std::string_view text, const std::filesystem::path& file);

// Atomic write of <dir>/manifest.json.
void write_manifest(const std::filesystem::path& snapshot_dir, const Manifest& m);
Manifest read_manifest(const std::filesystem::path& snapshot_dir);

// Size and xxh3-128 of a file, for Manifest::files.
FileEntry describe_file(const std::filesystem::path& file);
// Checks every file listed in m.files against its recorded size and checksum.
void verify_listed_files(const std::filesystem::path& snapshot_dir, const Manifest& m);
// The chunk store directory a manifest names, resolved against the snapshot directory.
std::filesystem::path store_path(const std::filesystem::path& snapshot_dir, const Manifest& m);

std::string utc_timestamp_now();

}  // namespace thaw::snapshot
