#include "snapshot/manifest.h"

#include <ctime>

#include "base/error.h"


namespace thaw::snapshot {

using nlohmann::json;

namespace {

constexpr uint64_t kMaxManifestBytes = 64ull << 20;
constexpr uint64_t kMaxPageCount = 1ull << 40;  // 4 PiB of page space: far beyond any guest

json region_json(const RegionLayout& r) {
  return {{"guest_addr", r.guest_addr}, {"first_page", r.first_page}, {"page_count", r.page_count}};
}

json body_json(const Manifest& m) {
  json regions = json::array();
  for (const auto& r : m.regions) regions.push_back(region_json(r));
  json packs = json::array();
  for (const auto& p : m.packs) packs.push_back({{"name", p.name}, {"bytes", p.bytes}});
  json files = json::object();
  for (const auto& [name, f] : m.files) files[name] = {{"bytes", f.bytes}, {"xxh3_128", to_hex(f.xxh3_128)}};
  const auto& t = m.totals;
  return {
      {"format", {{"major", m.format_major}, {"minor", m.format_minor}}},
      {"engine", {{"name", "thaw"}, {"version", m.engine_version}}},
      {"created", m.created},
      {"memory",
       {{"page_size", m.page_size},
        {"pages_per_chunk", m.pages_per_chunk},
        {"page_count", m.page_count},
        {"chunk_count", m.chunk_count},
        {"regions", regions}}},
      {"page_store",
       {{"index", m.page_index},
        {"store", m.store},
        {"packs", packs},
        {"pages", t.pages},
        {"zero_pages", t.zero_pages},
        {"chunks", t.chunks},
        {"stored_chunks", t.stored_chunks},
        {"dedupe_hits", t.dedupe_hits},
        {"raw_bytes", t.raw_bytes},
        {"stored_bytes", t.stored_bytes},
        {"referenced_bytes", t.referenced_bytes}}},
      {"files", files},
      {"metadata", m.metadata},
  };
}

// Typed field access that names the file and the field path on any mismatch.
struct Reader {
  const std::filesystem::path& file;

  [[noreturn]] void fail(const std::string& what) const { throw Error(file.string() + ": " + what); }

  const json& field(const json& obj, const char* key, const std::string& where) const {
    if (!obj.is_object()) fail(where + " is not an object");
    auto it = obj.find(key);
    if (it == obj.end()) fail("missing field " + where + "." + key);
    return *it;
  }
  const json& object(const json& obj, const char* key, const std::string& where) const {
    const json& v = field(obj, key, where);
    if (!v.is_object()) fail(where + "." + key + " is not an object");
    return v;
  }
  const json& array(const json& obj, const char* key, const std::string& where) const {
    const json& v = field(obj, key, where);
    if (!v.is_array()) fail(where + "." + key + " is not an array");
    return v;
  }
  uint64_t u64(const json& obj, const char* key, const std::string& where) const {
    const json& v = field(obj, key, where);
    if (!v.is_number_unsigned()) fail(where + "." + key + " is not an unsigned integer");
    return v.get<uint64_t>();
  }
  uint32_t u32(const json& obj, const char* key, const std::string& where) const {
    uint64_t v = u64(obj, key, where);
    if (v > UINT32_MAX) fail(where + "." + key + " is out of range");
    return static_cast<uint32_t>(v);
  }
  std::string str(const json& obj, const char* key, const std::string& where) const {
    const json& v = field(obj, key, where);
    if (!v.is_string()) fail(where + "." + key + " is not a string");
    return v.get<std::string>();
  }
};

bool plain_file_name(const std::string& name) {
  return !name.empty() && name.size() <= 255 && name != "." && name != ".." &&
         name.find('/') == std::string::npos && name.find('\0') == std::string::npos;
}

}  // namespace

std::string serialize_manifest(const Manifest& m) {
  json j = body_json(m);
  std::string body = j.dump();
  Hash128 sum = hash128(std::as_bytes(std::span(body)));
  j["checksum"] = to_hex(sum);
  return j.dump(2) + "\n";
}

Manifest parse_manifest(std::string_view text, const std::filesystem::path& file) {
  Reader rd{file};
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    rd.fail(std::string("not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) rd.fail("not a JSON object");

  // The format version first, so a newer major version gets that message, not a field error.
  const json& format = rd.object(j, "format", "manifest");
  Manifest m;
  m.format_major = rd.u32(format, "major", "format");
  m.format_minor = rd.u32(format, "minor", "format");
  if (m.format_major != kFormatMajor)
    rd.fail("unsupported snapshot format version " + std::to_string(m.format_major) + "." +
            std::to_string(m.format_minor) + " (this thaw reads " + std::to_string(kFormatMajor) + ".x)");

  std::string recorded = rd.str(j, "checksum", "manifest");
  json body = j;
  body.erase("checksum");
  std::string body_text = body.dump();
  Hash128 sum = hash128(std::as_bytes(std::span(body_text)));
  if (hash_from_hex(recorded, file.string()) != sum) rd.fail("checksum mismatch (file corrupted or edited)");
  if (text != j.dump(2) + "\n") rd.fail("not in canonical form (file corrupted or edited)");

  m.engine_version = rd.str(rd.object(j, "engine", "manifest"), "version", "engine");
  m.created = rd.str(j, "created", "manifest");

  const json& mem = rd.object(j, "memory", "manifest");
  m.page_size = rd.u32(mem, "page_size", "memory");
  if (m.page_size != kPageSize)
    rd.fail("wrong page size " + std::to_string(m.page_size) + " (this thaw uses " + std::to_string(kPageSize) + ")");
  m.pages_per_chunk = rd.u32(mem, "pages_per_chunk", "memory");
  if (m.pages_per_chunk == 0 || m.pages_per_chunk > kMaxPagesPerChunk)
    rd.fail("memory.pages_per_chunk " + std::to_string(m.pages_per_chunk) + " out of range 1.." +
            std::to_string(kMaxPagesPerChunk));
  m.page_count = rd.u64(mem, "page_count", "memory");
  if (m.page_count > kMaxPageCount) rd.fail("memory.page_count is absurdly large");
  m.chunk_count = rd.u64(mem, "chunk_count", "memory");
  if (m.chunk_count != (m.page_count + m.pages_per_chunk - 1) / m.pages_per_chunk)
    rd.fail("memory.chunk_count does not match page_count and pages_per_chunk");
  uint64_t next_free = 0;
  for (const json& r : rd.array(mem, "regions", "memory")) {
    RegionLayout l{rd.u64(r, "guest_addr", "memory.regions[]"), rd.u64(r, "first_page", "memory.regions[]"),
                   rd.u64(r, "page_count", "memory.regions[]")};
    if (l.guest_addr % kPageSize != 0) rd.fail("memory.regions[]: guest_addr is not page-aligned");
    if (l.page_count == 0) rd.fail("memory.regions[]: empty region");
    if (l.first_page < next_free || l.first_page > m.page_count || l.page_count > m.page_count - l.first_page)
      rd.fail("memory.regions[]: region overlaps another or lies outside page space");
    if (l.page_count > (UINT64_MAX - l.guest_addr) / kPageSize) rd.fail("memory.regions[]: guest range overflows");
    next_free = l.first_page + l.page_count;
    m.regions.push_back(l);
  }

  const json& ps = rd.object(j, "page_store", "manifest");
  m.page_index = rd.str(ps, "index", "page_store");
  if (!plain_file_name(m.page_index)) rd.fail("page_store.index is not a plain file name");
  m.store = rd.str(ps, "store", "page_store");
  if (m.store.empty()) rd.fail("page_store.store is empty");
  for (const json& p : rd.array(ps, "packs", "page_store")) {
    PackRef ref{rd.str(p, "name", "page_store.packs[]"), rd.u64(p, "bytes", "page_store.packs[]")};
    if (!plain_file_name(ref.name)) rd.fail("page_store.packs[]: name is not a plain file name");
    m.packs.push_back(std::move(ref));
  }
  auto& t = m.totals;
  t.pages = rd.u64(ps, "pages", "page_store");
  t.zero_pages = rd.u64(ps, "zero_pages", "page_store");
  t.chunks = rd.u64(ps, "chunks", "page_store");
  t.stored_chunks = rd.u64(ps, "stored_chunks", "page_store");
  t.dedupe_hits = rd.u64(ps, "dedupe_hits", "page_store");
  t.raw_bytes = rd.u64(ps, "raw_bytes", "page_store");
  t.stored_bytes = rd.u64(ps, "stored_bytes", "page_store");
  t.referenced_bytes = rd.u64(ps, "referenced_bytes", "page_store");

  for (const auto& [name, f] : rd.object(j, "files", "manifest").items()) {
    if (!plain_file_name(name) || name == kManifestName) rd.fail("files: \"" + name + "\" is not a plain file name");
    m.files[name] = {rd.u64(f, "bytes", "files." + name),
                     hash_from_hex(rd.str(f, "xxh3_128", "files." + name), file.string())};
  }
  if (!m.files.count(m.page_index)) rd.fail("files: the page index " + m.page_index + " is not listed");
  m.metadata = rd.object(j, "metadata", "manifest");
  return m;
}

void write_manifest(const std::filesystem::path& snapshot_dir, const Manifest& m) {
  std::string text = serialize_manifest(m);
  write_file_atomic(snapshot_dir / kManifestName, std::as_bytes(std::span(text)));
}

Manifest read_manifest(const std::filesystem::path& snapshot_dir) {
  if (!std::filesystem::is_directory(snapshot_dir))
    throw Error(snapshot_dir.string() + ": not a snapshot directory (missing or not a directory)");
  auto file = snapshot_dir / kManifestName;
  auto bytes = read_whole_file(file, kMaxManifestBytes);
  return parse_manifest(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), file);
}

FileEntry describe_file(const std::filesystem::path& file) {
  auto bytes = read_whole_file(file, 1ull << 40);
  return {bytes.size(), hash128(bytes)};
}

void verify_listed_files(const std::filesystem::path& snapshot_dir, const Manifest& m) {
  for (const auto& [name, entry] : m.files) {
    auto file = snapshot_dir / name;
    std::error_code ec;
    auto size = std::filesystem::file_size(file, ec);
    if (ec) throw Error(file.string() + ": file is missing (listed in the manifest)");
    if (size != entry.bytes)
      throw Error(file.string() + ": size " + std::to_string(size) + " bytes, manifest says " +
                  std::to_string(entry.bytes) + (size < entry.bytes ? " (truncated)" : ""));
    if (describe_file(file).xxh3_128 != entry.xxh3_128) throw Error(file.string() + ": checksum mismatch");
  }
}

std::filesystem::path store_path(const std::filesystem::path& snapshot_dir, const Manifest& m) {
  std::filesystem::path p(m.store);
  return p.is_absolute() ? p : snapshot_dir / p;
}

std::string utc_timestamp_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace thaw::snapshot
