#include "snapshot/repack.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "base/worker_threads.h"
#include "snapshot/chunk_codec.h"
#include "snapshot/chunk_store.h"
#include "snapshot/file_io.h"
#include "snapshot/manifest.h"
#include "snapshot/page_index.h"
#include "snapshot/page_store_reader.h"

namespace thaw::snapshot {

namespace fs = std::filesystem;

namespace {

// The chunks that hold data, in the order the new pack stores them: the working set first (in
// first-touch order), then the rest in page order. Chunks with the same content as an earlier
// one are stored once: `first_of` names that one.
// Chunks whose object lies in a shared pack are `kept` where they are.
struct Plan {
  std::vector<uint64_t> hot, cold, kept;
  std::vector<uint64_t> first_of;
};

Plan make_plan(const PageStoreReader& r, std::span<const uint64_t> hot_chunks, const std::set<std::string>& shared) {
  const uint64_t chunks = r.manifest().chunk_count;
  Plan p;
  p.first_of.assign(chunks, UINT64_MAX);
  std::vector<bool> hot(chunks, false);
  std::unordered_map<Hash128, uint64_t, Hash128Hasher> seen;
  auto place = [&](uint64_t c, std::vector<uint64_t>& list) {
    const ChunkRecord& rec = r.chunk_record(c);
    auto [it, fresh] = seen.try_emplace(Hash128{rec.hash_low, rec.hash_high}, c);
    p.first_of[c] = it->second;
    if (!fresh) return;
    if (shared.count(r.manifest().packs[rec.pack].name))
      p.kept.push_back(c);
    else
      list.push_back(c);
  };
  for (uint64_t c : hot_chunks)
    if (c < chunks && !hot[c] && r.chunk_record(c).encoding != kEncodingNone) {
      hot[c] = true;
      place(c, p.hot);
    }
  for (uint64_t c = 0; c < chunks; ++c)
    if (!hot[c] && r.chunk_record(c).encoding != kEncodingNone) place(c, p.cold);
  return p;
}

// Reads a chunk's object back to its raw bytes (its non-zero pages, packed), verified. One per
// thread: it reads with pread, not through the reader's shared ring.
class ObjectReader {
 public:
  explicit ObjectReader(const PageStoreReader& r)
      : r_(r), stored_(max_stored(r)), chunk_(static_cast<size_t>(r.pages_per_chunk()) * kPageSize) {}

  // The chunk's object as stored (its encoding is the chunk's record's), not verified.
  std::span<const std::byte> stored(uint64_t c) {
    auto extent = r_.chunk_extent(c);
    if (!extent) throw Error("chunk " + std::to_string(c) + " has no object");
    std::span<std::byte> bytes(stored_.data(), extent->length);
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::pread(extent->fd, bytes.data() + done, bytes.size() - done,
                          static_cast<off_t>(extent->offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("pread", "chunk " + std::to_string(c));
      if (n == 0) throw Error("chunk " + std::to_string(c) + ": its pack ends early");
      done += static_cast<size_t>(n);
    }
    return bytes;
  }

  std::span<const std::byte> raw(uint64_t c) {
    auto stored = this->stored(c);
    uint64_t first = c * r_.pages_per_chunk();
    size_t pages = static_cast<size_t>(std::min<uint64_t>(r_.pages_per_chunk(), r_.page_count() - first));
    std::span<std::byte> out(chunk_.data(), pages * kPageSize);
    r_.decode_chunk(c, stored, out);
    // Pack the non-zero pages to the front: the object's raw bytes, which its hash names.
    size_t kept = 0;
    for (size_t i = 0; i < pages; ++i) {
      if (r_.page_is_zero(first + i)) continue;
      if (kept != i) std::memmove(out.data() + kept * kPageSize, out.data() + i * kPageSize, kPageSize);
      ++kept;
    }
    return out.first(kept * kPageSize);
  }

 private:
  static size_t max_stored(const PageStoreReader& r) {
    return max_stored_bytes(kEncodingZstd, static_cast<size_t>(r.pages_per_chunk()) * kPageSize) +
           max_stored_bytes(kEncodingLz4, static_cast<size_t>(r.pages_per_chunk()) * kPageSize);
  }
  const PageStoreReader& r_;
  std::vector<std::byte> stored_;
  std::vector<std::byte> chunk_;
};

// Trains the cold chunks' dictionary on an even sample of them (zstd learns as well from a
// hundred times the dictionary's size as from everything, and much sooner).
std::vector<std::byte> train_dictionary(const PageStoreReader& r, std::span<const uint64_t> cold, size_t capacity) {
  if (capacity == 0 || cold.empty()) return {};
  const uint64_t chunk_bytes = static_cast<uint64_t>(r.pages_per_chunk()) * kPageSize;
  uint64_t want = std::max<uint64_t>(1, 100 * capacity / chunk_bytes);
  uint64_t step = std::max<uint64_t>(1, cold.size() / want);
  ObjectReader reader(r);
  std::vector<std::vector<std::byte>> samples;
  for (uint64_t i = 0; i < cold.size(); i += step) {
    auto raw = reader.raw(cold[i]);
    samples.emplace_back(raw.begin(), raw.end());
  }
  std::vector<std::span<const std::byte>> views(samples.begin(), samples.end());
  return train_zstd_dictionary(views, capacity);
}

// Encodes each listed chunk into the pack and fills in its record, on `threads` threads that
// take the next chunk from a shared counter.
void encode_into(const PageStoreReader& r, std::span<const uint64_t> list, Codec codec, unsigned threads,
                 const ZstdCompressionDictionary* dictionary, const RepackOptions& options, PackWriter& pack,
                 std::vector<ChunkRecord>& records) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  run_on_threads(threads, failed, [&] {
    ObjectReader reader(r);
    ChunkEncoder encoder(1, options.zstd_level, dictionary);
    std::vector<std::byte> out(ChunkEncoder::bound(static_cast<size_t>(r.pages_per_chunk()) * kPageSize));
    for (size_t i; !failed && (i = next.fetch_add(1)) < list.size();) {
      if (options.stop && options.stop->load()) throw Error("repack stopped");
      uint64_t c = list[i];
      ChunkRecord& rec = records[c];
      std::span<const std::byte> stored;
      Encoded e;
      if (codec == Codec::kLz4 && (rec.encoding == kEncodingLz4 || rec.encoding == kEncodingRaw)) {
        stored = reader.stored(c);  // already what lz4 would make of it: moved as it is, verified
        if (hash64(stored) != rec.checksum) throw Error("chunk " + std::to_string(c) + ": checksum mismatch");
        e = {rec.encoding, stored.size()};
      } else {
        e = encoder.encode(codec, reader.raw(c), out);
        stored = std::span<const std::byte>(out.data(), e.bytes);
      }
      rec.offset = pack.reserve(e.bytes);
      pack.write_at(rec.offset, stored);
      rec.stored_bytes = static_cast<uint32_t>(e.bytes);
      rec.encoding = e.encoding;
      rec.checksum = hash64(stored);
      rec.pack = 0;
    }
  });
}

uint64_t distinct_stored_bytes(const PageStoreReader& r) {
  std::set<std::pair<uint32_t, uint64_t>> seen;
  uint64_t bytes = 0;
  for (uint64_t c = 0; c < r.manifest().chunk_count; ++c) {
    const ChunkRecord& rec = r.chunk_record(c);
    if (rec.encoding != kEncodingNone && seen.emplace(rec.pack, rec.offset).second) bytes += rec.stored_bytes;
  }
  return bytes;
}

// "pack-<unique>.pack" -> "pages-<unique>.idx": the index that goes with that pack.
std::string index_name_for(const std::string& pack) {
  return "pages-" + pack.substr(5, pack.size() - 10) + ".idx";
}

// After encoding: points the kept chunks at their packs' places in the new list (the new pack
// is pack 0, the shared packs still used follow it) and every repeated chunk at its first
// copy; returns the new pack's entries.
std::vector<PackEntry> settle_records(const Manifest& m, const Plan& plan, std::vector<PackRef>& packs,
                                      std::vector<ChunkRecord>& records) {
  std::vector<uint32_t> pack_slot(m.packs.size(), UINT32_MAX);
  for (uint64_t c : plan.kept) {
    ChunkRecord& rec = records[c];
    if (pack_slot[rec.pack] == UINT32_MAX) {
      pack_slot[rec.pack] = static_cast<uint32_t>(packs.size());
      packs.push_back(m.packs[rec.pack]);
    }
    rec.pack = pack_slot[rec.pack];
  }
  std::vector<PackEntry> entries;
  for (const auto* list : {&plan.hot, &plan.cold})
    for (uint64_t c : *list) {
      const ChunkRecord& rec = records[c];
      entries.push_back({rec.hash_low, rec.hash_high, rec.offset, rec.stored_bytes, rec.raw_bytes, rec.encoding, 0,
                         rec.checksum});
    }
  for (uint64_t c = 0; c < m.chunk_count; ++c)
    if (records[c].encoding != kEncodingNone && plan.first_of[c] != c) {
      ChunkRecord& rec = records[c];
      const ChunkRecord& first = records[plan.first_of[c]];
      rec.pack = first.pack;
      rec.offset = first.offset;
      rec.stored_bytes = first.stored_bytes;
      rec.encoding = first.encoding;
      rec.checksum = first.checksum;
    }
  return entries;
}

// Writes the new page index, then replaces the manifest with one that names it and `packs`.
void switch_manifest(const fs::path& snapshot_dir, const PageStoreReader& r, const Manifest& m,
                     std::vector<PackRef> packs, std::span<const ChunkRecord> records, uint64_t new_entries,
                     uint64_t referenced_bytes) {
  std::vector<uint64_t> bitmap((m.page_count + 63) / 64, 0);
  for (uint64_t p = 0; p < m.page_count; ++p)
    if (r.page_is_zero(p)) bitmap[p / 64] |= 1ull << (p % 64);
  auto index = serialize_page_index(m.pages_per_chunk, m.page_count, static_cast<uint32_t>(packs.size()), bitmap,
                                    records);
  Manifest next = m;
  next.page_index = index_name_for(packs[0].name);
  write_file_atomic(snapshot_dir / next.page_index, index);
  next.files.erase(m.page_index);
  next.files[next.page_index] = {index.size(), hash128(index)};
  next.totals.stored_chunks = new_entries;
  next.totals.stored_bytes = packs[0].bytes - sizeof(PackHeader);
  next.totals.referenced_bytes = referenced_bytes;
  next.totals.dedupe_hits = next.totals.chunks - new_entries;
  next.packs = std::move(packs);
  write_manifest(snapshot_dir, next);
}

}  // namespace

RepackStats repack_page_store(const fs::path& snapshot_dir, std::span<const uint64_t> hot_chunks,
                              const RepackOptions& options) {
  auto start = std::chrono::steady_clock::now();
  auto r = PageStoreReader::open(snapshot_dir);
  const Manifest m = r->manifest();  // a copy: the reader is closed before the old files go
  Plan plan = make_plan(*r, hot_chunks, options.shared_packs);
  RepackStats stats;
  stats.hot_chunks = plan.hot.size();
  stats.cold_chunks = plan.cold.size();
  stats.kept_chunks = plan.kept.size();
  stats.bytes_before = distinct_stored_bytes(*r);
  bool cold_lz4 = std::any_of(plan.cold.begin(), plan.cold.end(),
                              [&](uint64_t c) { return r->chunk_record(c).encoding == kEncodingLz4; });
  if (!cold_lz4) {  // already repacked, or everything it has lies in shared packs
    stats.bytes_after = stats.bytes_before;
    return stats;
  }

  fs::path store = store_path(snapshot_dir, m);
  PackWriter pack(store);
  auto dictionary = train_dictionary(*r, plan.cold, options.dictionary_bytes);
  std::unique_ptr<ZstdCompressionDictionary> cdict;
  if (!dictionary.empty()) {
    pack.write_dictionary(dictionary);
    cdict = std::make_unique<ZstdCompressionDictionary>(dictionary, options.zstd_level);
  }
  stats.dictionary_bytes = dictionary.size();

  std::vector<ChunkRecord> records(m.chunk_count);
  for (uint64_t c = 0; c < m.chunk_count; ++c) records[c] = r->chunk_record(c);
  unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  // The working set on one thread, so that its objects lie in the pack in first-touch order.
  encode_into(*r, plan.hot, Codec::kLz4, 1, nullptr, options, pack, records);
  encode_into(*r, plan.cold, Codec::kZstd, threads, cdict.get(), options, pack, records);

  std::vector<PackRef> packs{{pack.name(), 0}};
  auto entries = settle_records(m, plan, packs, records);
  pack.seal(entries);
  packs[0].bytes = pack.bytes();
  stats.bytes_after = pack.bytes() - sizeof(PackHeader);
  for (uint64_t c : plan.kept) stats.bytes_after += records[c].stored_bytes;

  switch_manifest(snapshot_dir, *r, m, std::move(packs), records, entries.size(), stats.bytes_after);

  // The manifest now names only the new files: remove what it superseded.
  r.reset();
  std::error_code ec;
  fs::remove(snapshot_dir / m.page_index, ec);
  if (!fs::path(m.store).is_absolute()) remove_unreferenced_packs(store, {pack.name()});
  stats.repacked = true;
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace thaw::snapshot
