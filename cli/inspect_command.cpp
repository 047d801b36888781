// thaw inspect SNAPSHOT_DIR [--json] [--verify]: what a snapshot holds. The report is built as
// ordered JSON by a list of sections (one function each); text output renders the same tree, so
// a new field or section appears in both. Add a section by appending to kSections.
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "cli/commands.h"
#include "snapshot/page_store_reader.h"
#include "snapshot/store_sharing.h"
#include "snapshot/working_set.h"

namespace thaw::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;
using snapshot::Manifest;
using snapshot::PageStoreReader;

struct InspectContext {
  fs::path dir;
  PageStoreReader& reader;
  const Manifest& manifest;
};

using Section = std::function<void(const InspectContext&, ordered_json&)>;

void snapshot_section(const InspectContext& c, ordered_json& out) {
  const Manifest& m = c.manifest;
  out["snapshot"] = {{"directory", c.dir.string()},
                     {"format_version", std::to_string(m.format_major) + "." + std::to_string(m.format_minor)},
                     {"engine_version", m.engine_version},
                     {"created", m.created}};
}

void memory_section(const InspectContext& c, ordered_json& out) {
  const Manifest& m = c.manifest;
  ordered_json regions = ordered_json::array();
  for (const auto& r : m.regions)
    regions.push_back({{"guest_addr", r.guest_addr}, {"first_page", r.first_page}, {"pages", r.page_count}});
  out["memory"] = {{"page_size", m.page_size},
                   {"pages_per_chunk", m.pages_per_chunk},
                   {"page_space_pages", m.page_count},
                   {"chunk_count", m.chunk_count},
                   {"region_count", m.regions.size()},
                   {"regions", regions}};
}

void page_store_section(const InspectContext& c, ordered_json& out) {
  const auto& t = c.manifest.totals;
  uint64_t nonzero = (t.pages - t.zero_pages) * c.manifest.page_size;
  auto ratio = [](uint64_t a, uint64_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : 0.0; };
  ordered_json packs = ordered_json::array();
  for (const auto& p : c.manifest.packs) packs.push_back({{"name", p.name}, {"bytes", p.bytes}});
  // lz4 throughout as written; the working set lz4 and the rest zstd once repacked.
  uint64_t lz4 = 0, zstd = 0, raw = 0;
  for (uint64_t chunk = 0; chunk < c.reader.chunk_count(); ++chunk) {
    uint32_t e = c.reader.chunk_record(chunk).encoding;
    lz4 += e == snapshot::kEncodingLz4;
    zstd += e == snapshot::kEncodingZstd;
    raw += e == snapshot::kEncodingRaw;
  }
  out["page_store"] = {{"pages", t.pages},
                       {"zero_pages", t.zero_pages},
                       {"chunks", t.chunks},
                       {"stored_chunks", t.stored_chunks},
                       {"dedupe_hits", t.dedupe_hits},
                       {"raw_bytes", t.raw_bytes},
                       {"nonzero_bytes", nonzero},
                       {"compressed_bytes", t.referenced_bytes},
                       {"stored_bytes", t.stored_bytes},
                       {"ratio", ratio(t.referenced_bytes, nonzero)},
                       {"ratio_of_raw", ratio(t.referenced_bytes, t.raw_bytes)},
                       {"chunks_by_encoding", {{"lz4", lz4}, {"zstd", zstd}, {"raw", raw}}},
                       {"store", snapshot::store_path(c.dir, c.manifest).string()},
                       {"packs", packs}};
}

void files_section(const InspectContext& c, ordered_json& out) {
  ordered_json files = ordered_json::object();
  for (const auto& [name, f] : c.manifest.files)
    files[name] = {{"bytes", f.bytes}, {"xxh3_128", snapshot::to_hex(f.xxh3_128)}};
  out["files"] = files;
  if (!c.manifest.metadata.empty()) out["metadata"] = c.manifest.metadata;
}

// A function snapshot (thaw snapshot): the machine and the function it holds.
void machine_section(const InspectContext& c, ordered_json& out) {
  const auto& meta = c.manifest.metadata;
  if (meta.value("kind", std::string()) != "thaw-function-snapshot") return;
  ordered_json m = {{"vcpus", meta.value("vcpus", 0)},
                    {"memory_mib", meta.value("memory_mib", 0)},
                    {"init_ms", meta.value("init_ms", 0.0)},
                    {"machine_state_version", meta.value("machine_state_version", 0)}};
  if (auto it = meta.find("image"); it != meta.end() && it->is_object()) {
    const auto& fn = it->value("function", nlohmann::json::object());
    m["function"] = fn.value("name", std::string());
    m["runtime"] = fn.value("runtime", std::string());
    m["handler"] = fn.value("handler", std::string());
    m["image_id"] = it->value("image_id", std::string());
  }
  out["machine"] = m;
}

// The recorded working set: what a restore prefetches.
void working_set_section(const InspectContext& c, ordered_json& out) {
  auto ws = snapshot::load_working_set(c.dir);
  if (!ws) {
    out["working_set"] = {{"present", false}, {"note", "recorded by the first restore's first invocation"}};
    return;
  }
  uint64_t raw = 0, stored = 0;
  for (uint64_t chunk : *ws) {
    if (chunk >= c.reader.chunk_count()) continue;
    raw += c.reader.chunk_bytes(chunk);
    if (auto e = c.reader.chunk_extent(chunk)) stored += e->length;
  }
  out["working_set"] = {{"present", true}, {"chunks", ws->size()}, {"bytes", raw}, {"stored_bytes", stored}};
}

// The snapshot directory's siblings that use the same chunk store (as an engine's data
// directory keeps its snapshots): what this snapshot has to itself and what it shares.
void sharing_section(const InspectContext& c, ordered_json& out) {
  std::error_code ec;
  auto store = fs::weakly_canonical(snapshot::store_path(c.dir, c.manifest), ec);
  std::vector<fs::path> dirs{c.dir};
  auto self = fs::weakly_canonical(c.dir, ec);
  for (const auto& e : fs::directory_iterator(self.parent_path(), ec)) {
    if (!e.is_directory() || e.path() == self || !fs::exists(e.path() / "manifest.json")) continue;
    try {
      if (fs::weakly_canonical(snapshot::store_path(e.path(), snapshot::read_manifest(e.path()))) == store)
        dirs.push_back(e.path());
    } catch (const std::exception&) {
      // a snapshot being written or damaged: not counted
    }
  }
  auto sharing = snapshot::measure_sharing(dirs);
  const auto& me = sharing.snapshots.front();
  out["sharing"] = {{"snapshots_in_store", dirs.size()},
                    {"this_snapshot", {{"referenced_bytes", me.referenced_bytes},
                                       {"unique_bytes", me.unique_bytes},
                                       {"shared_bytes", me.shared_bytes}}},
                    {"store", {{"stored_bytes", sharing.stored_bytes},
                               {"unique_bytes", sharing.unique_bytes},
                               {"shared_bytes", sharing.shared_bytes},
                               {"referenced_bytes", sharing.referenced_bytes}}}};
}

const std::vector<Section> kSections = {snapshot_section, machine_section,     memory_section, page_store_section,
                                        sharing_section,  working_set_section, files_section};

// Renders the report as indented "key: value" lines; long arrays are summarised.
void render_text(const ordered_json& j, int indent) {
  std::string pad(static_cast<size_t>(indent) * 2, ' ');
  for (const auto& [key, v] : j.items()) {
    if (v.is_object()) {
      std::printf("%s%s:\n", pad.c_str(), key.c_str());
      render_text(v, indent + 1);
    } else if (v.is_array()) {
      if (v.size() > 8 || (!v.empty() && v.front().is_object())) {
        std::printf("%s%s: %zu entries%s\n", pad.c_str(), key.c_str(), v.size(), v.empty() ? "" : " (--json lists them)");
      } else {
        std::printf("%s%s: %s\n", pad.c_str(), key.c_str(), v.dump().c_str());
      }
    } else if (v.is_number_float()) {
      std::printf("%s%s: %.4f\n", pad.c_str(), key.c_str(), v.get<double>());
    } else if (v.is_string()) {
      std::printf("%s%s: %s\n", pad.c_str(), key.c_str(), v.get<std::string>().c_str());
    } else {
      std::printf("%s%s: %s\n", pad.c_str(), key.c_str(), v.dump().c_str());
    }
  }
}

}  // namespace

Command add_inspect_command(CLI::App& app) {
  auto* sub = app.add_subcommand("inspect", "show what a snapshot holds (verifies its manifest and index)");
  struct Args {
    std::string dir;
    bool json = false;
    bool verify = false;
  };
  auto args = std::make_shared<Args>();
  sub->add_option("snapshot", args->dir, "snapshot directory")->required();
  sub->add_flag("--json", args->json, "print the report as JSON");
  sub->add_flag("--verify", args->verify, "also read, checksum and decode every chunk");
  return {sub, false, [args]() -> int {
            auto reader = snapshot::PageStoreReader::open(args->dir);
            InspectContext ctx{args->dir, *reader, reader->manifest()};
            ordered_json report = ordered_json::object();
            for (const auto& s : kSections) s(ctx, report);
            if (args->verify) {
              std::vector<std::byte> buf(static_cast<size_t>(reader->pages_per_chunk()) * reader->page_size());
              for (uint64_t chunk = 0; chunk < reader->chunk_count(); ++chunk)
                reader->read_chunk(chunk, std::span(buf).first(reader->chunk_bytes(chunk)));
              report["verified"] = {{"chunks", reader->chunk_count()}, {"ok", true}};
            }
            if (args->json) {
              std::printf("%s\n", report.dump(2).c_str());
            } else {
              render_text(report, 0);
            }
            return 0;
          }};
}

}  // namespace thaw::cli
