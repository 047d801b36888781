// libFuzzer target: the snapshot reader and the manifest parser on untrusted bytes.
// A valid snapshot is written once into a temp dir. The first input byte picks what the rest
// becomes: 0 manifest.json as is; 1 manifest.json with its checksum recomputed (reaches the
// field and layout checks); 2 pages.idx with the manifest re-listing it (reaches the index and
// chunk-record checks); 3 the pack file; 4 working_set.bin; 5 a state blob. Then the snapshot
// is opened and, if that succeeds, read whole. Only thaw::Error and PageSourceError may escape.
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/log.h"
#include "snapshot/manifest.h"
#include "snapshot/page_store_reader.h"
#include "snapshot/page_store_writer.h"
#include "snapshot/state_blob.h"
#include "snapshot/working_set.h"

namespace {

namespace fs = std::filesystem;
using namespace thaw::snapshot;

struct Fixture {
  fs::path dir;
  std::string pack;
  std::vector<char> manifest, index, pack_bytes;
  Fixture() {
    thaw::init_logging("off");
    dir = fs::temp_directory_path() / ("thaw-fuzz-snapshot-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::vector<std::byte> mem(40 * 4096);
    for (size_t i = 0; i < mem.size(); ++i)
      mem[i] = (i / 4096) % 3 == 0 ? std::byte{0} : std::byte(static_cast<unsigned char>((i * 2654435761u) >> 13));
    GuestRegion region{0x100000, mem};
    WriteOptions opt;
    opt.pages_per_chunk = 8;
    opt.threads = 1;
    write_page_store(dir, std::span(&region, 1), opt);
    pack = read_manifest(dir).packs.at(0).name;
    manifest = slurp(dir / "manifest.json");
    index = slurp(dir / "pages.idx");
    pack_bytes = slurp(pack_path());
  }
  fs::path pack_path() const { return dir / "store" / "packs" / pack; }
  static std::vector<char> slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  static void spit(const fs::path& p, const char* data, size_t size) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(data, static_cast<std::streamsize>(size));
  }
  void restore() {
    spit(dir / "manifest.json", manifest.data(), manifest.size());
    spit(dir / "pages.idx", index.data(), index.size());
    spit(pack_path(), pack_bytes.data(), pack_bytes.size());
    fs::remove(dir / "working_set.bin");
    fs::remove(dir / "fuzz.state");
  }
};

void open_and_read(const fs::path& dir) {
  auto r = PageStoreReader::open(dir);
  if (r->page_count() > (1u << 16)) return;  // a forged layout may claim huge memory
  std::vector<std::byte> out(r->page_count() * r->page_size());
  r->read_all(out, 8);
  for (uint64_t p = 0; p < r->page_count(); p += 7) r->page_is_zero(p);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fx;
  if (size == 0) return 0;
  uint8_t mode = data[0] % 6;
  const char* body = reinterpret_cast<const char*>(data + 1);
  size_t len = size - 1;
  fx.restore();
  try {
    switch (mode) {
      case 0:
        parse_manifest(std::string_view(body, len), "fuzz/manifest.json");
        Fixture::spit(fx.dir / "manifest.json", body, len);
        open_and_read(fx.dir);
        break;
      case 1: {
        auto j = nlohmann::json::parse(body, body + len, nullptr, false);
        if (j.is_discarded() || !j.is_object()) break;
        j.erase("checksum");
        std::string b = j.dump();
        j["checksum"] = to_hex(hash128(std::as_bytes(std::span(b))));
        std::string text = j.dump(2) + "\n";
        Fixture::spit(fx.dir / "manifest.json", text.data(), text.size());
        open_and_read(fx.dir);
        break;
      }
      case 2: {
        Fixture::spit(fx.dir / "pages.idx", body, len);
        Manifest m = read_manifest(fx.dir);
        m.files["pages.idx"] = describe_file(fx.dir / "pages.idx");
        std::string text = serialize_manifest(m);
        Fixture::spit(fx.dir / "manifest.json", text.data(), text.size());
        open_and_read(fx.dir);
        break;
      }
      case 3:
        Fixture::spit(fx.pack_path(), body, len);
        open_and_read(fx.dir);
        break;
      case 4:
        Fixture::spit(fx.dir / "working_set.bin", body, len);
        load_working_set(fx.dir);
        break;
      case 5:
        Fixture::spit(fx.dir / "fuzz.state", body, len);
        read_state_blob(fx.dir, "fuzz");
        break;
    }
  } catch (const thaw::Error&) {
  } catch (const thaw::memory::PageSourceError&) {
  }
  return 0;
}
