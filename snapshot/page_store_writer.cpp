#include "snapshot/page_store_writer.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "base/error.h"
#include "base/worker_threads.h"
#include "snapshot/chunk_store.h"
#include "snapshot/file_io.h"
#include "snapshot/format.h"
#include "snapshot/manifest.h"
#include "snapshot/page_index.h"
#include "snapshot/zero_page.h"

#ifndef THAW_ENGINE_VERSION
#define THAW_ENGINE_VERSION "unknown"
#endif

namespace thaw::snapshot {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kNoChunk = UINT64_MAX;
constexpr size_t kOutputBufferBytes = 2u << 20;  // per thread, flushed to the pack when full
constexpr uint64_t kChunksPerGrab = 8;

// The writer's shared state while threads work through the chunks.
struct Job {
  std::span<const GuestRegion> regions;
  std::vector<RegionLayout> layout;
  std::vector<uint32_t> chunk_region;  // region of each chunk; UINT32_MAX: padding only
  uint32_t ppc = 0;
  uint64_t page_count = 0;
  int acceleration = 1;
  int zstd_level = 3;
  Codec cold_codec = Codec::kLz4;
  std::vector<bool> hot;  // chunks of the working set (lz4 whatever cold_codec says)

  std::vector<uint64_t> zero_bitmap;    // bit set = zero page
  std::vector<ChunkRecord> records;
  std::vector<uint64_t> duplicate_of;   // chunk whose object this chunk reuses (this write)
  std::vector<int64_t> existing_of;     // object of an earlier pack this chunk reuses, or -1

  const ExistingObjects* existing = nullptr;
  std::vector<const StoredObject*> existing_objects;  // indexed by existing_of
  std::mutex existing_mutex;

  static constexpr size_t kShards = 16;
  struct Shard {
    std::mutex mutex;
    std::unordered_map<Hash128, uint64_t, Hash128Hasher> first_chunk;
  };
  Shard shards[kShards];

  PackWriter* pack = nullptr;
  std::atomic<uint64_t> next_chunk{0};
  std::atomic<bool> failed{false};
  std::atomic<uint64_t> zero_pages{0};
};

class ChunkWorker {
 public:
  ChunkWorker(Job& job)
      : job_(job),
        scratch_(static_cast<size_t>(job.ppc) * kPageSize),
        out_(std::max<size_t>(kOutputBufferBytes, ChunkEncoder::bound(job.ppc * kPageSize))),
        encoder_(job.acceleration, job.zstd_level) {}

  void run() {
    const uint64_t chunks = job_.records.size();
    while (!job_.failed.load(std::memory_order_relaxed)) {
      uint64_t first = job_.next_chunk.fetch_add(kChunksPerGrab);
      if (first >= chunks) break;
      uint64_t last = std::min(chunks, first + kChunksPerGrab);
      for (uint64_t c = first; c < last; ++c) process(c);
    }
    flush();
  }

 private:
  void process(uint64_t c) {
    uint32_t r = job_.chunk_region[c];
    if (r == UINT32_MAX) return;  // padding: every page zero
    const RegionLayout& l = job_.layout[r];
    const std::byte* base = job_.regions[r].bytes.data();
    uint64_t first_page = c * job_.ppc;
    uint64_t end_page = std::min({first_page + job_.ppc, l.first_page + l.page_count, job_.page_count});
    uint64_t begin_page = std::max(first_page, l.first_page);

    // Zero scan; non-zero pages are compacted into scratch only if a zero page breaks the run.
    size_t nonzero = 0;
    bool contiguous = true;
    const std::byte* run_start = nullptr;
    uint64_t zero_here = 0;
    for (uint64_t p = begin_page; p < end_page; ++p) {
      const std::byte* page = base + (p - l.first_page) * kPageSize;
      if (is_zero_page(page)) {
        ++zero_here;
        if (nonzero > 0 && contiguous) {
          // Pages so far were one run: copy them to scratch and continue compacting there.
          contiguous = false;
          std::memcpy(scratch_.data(), run_start, nonzero * kPageSize);
        }
        continue;
      }
      std::atomic_ref<uint64_t>(job_.zero_bitmap[p / 64]).fetch_and(~(1ull << (p % 64)), std::memory_order_relaxed);
      if (nonzero == 0) run_start = page;
      if (!contiguous) std::memcpy(scratch_.data() + nonzero * kPageSize, page, kPageSize);
      ++nonzero;
    }
    job_.zero_pages.fetch_add(zero_here, std::memory_order_relaxed);
    if (nonzero == 0) return;

    std::span<const std::byte> raw(contiguous ? run_start : scratch_.data(), nonzero * kPageSize);
    Hash128 h = hash128(raw);
    ChunkRecord& rec = job_.records[c];
    rec.hash_low = h.low;
    rec.hash_high = h.high;
    rec.raw_bytes = static_cast<uint32_t>(raw.size());

    if (job_.existing) {
      auto it = job_.existing->objects.find(h);
      if (it != job_.existing->objects.end() && it->second.raw_bytes == rec.raw_bytes) {
        std::lock_guard lock(job_.existing_mutex);
        job_.existing_of[c] = static_cast<int64_t>(job_.existing_objects.size());
        job_.existing_objects.push_back(&it->second);
        return;
      }
    }
    {
      auto& shard = job_.shards[h.low % Job::kShards];
      std::lock_guard lock(shard.mutex);
      auto [it, inserted] = shard.first_chunk.try_emplace(h, c);
      if (!inserted) {
        job_.duplicate_of[c] = it->second;
        return;
      }
    }

    size_t bound = ChunkEncoder::bound(raw.size());
    if (out_.size() - used_ < bound) flush();
    Codec codec = c < job_.hot.size() && job_.hot[c] ? Codec::kLz4 : job_.cold_codec;
    Encoded e = encoder_.encode(codec, raw, std::span(out_).subspan(used_, bound));
    rec.encoding = e.encoding;
    rec.stored_bytes = static_cast<uint32_t>(e.bytes);
    rec.checksum = hash64(std::span(out_).subspan(used_, rec.stored_bytes));
    rec.offset = used_;  // relative to the buffer until flushed
    used_ += rec.stored_bytes;
    pending_.push_back(c);
  }

  void flush() {
    if (used_ == 0) return;
    uint64_t at = job_.pack->reserve(used_);
    job_.pack->write_at(at, std::span(out_).first(used_));
    for (uint64_t c : pending_) job_.records[c].offset += at;
    pending_.clear();
    used_ = 0;
  }

  Job& job_;
  std::vector<std::byte> scratch_;
  std::vector<std::byte> out_;
  size_t used_ = 0;
  std::vector<uint64_t> pending_;
  ChunkEncoder encoder_;
};

std::vector<RegionLayout> lay_out(std::span<const GuestRegion> regions, uint32_t ppc) {
  std::vector<RegionLayout> layout;
  uint64_t next = 0;
  for (size_t i = 0; i < regions.size(); ++i) {
    const auto& r = regions[i];
    std::string name = "region " + std::to_string(i) + " at guest address " + std::to_string(r.guest_addr);
    if (r.guest_addr % kPageSize != 0) throw Error(name + ": not page-aligned");
    if (r.bytes.empty() || r.bytes.size() % kPageSize != 0)
      throw Error(name + ": size " + std::to_string(r.bytes.size()) + " is not a positive multiple of 4096");
    if (r.bytes.size() / kPageSize > (UINT64_MAX - r.guest_addr) / kPageSize) throw Error(name + ": overflows");
    uint64_t first = (next + ppc - 1) / ppc * ppc;
    layout.push_back({r.guest_addr, first, r.bytes.size() / kPageSize});
    next = first + layout.back().page_count;
  }
  std::vector<RegionLayout> sorted = layout;
  std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.guest_addr < b.guest_addr; });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i - 1].guest_addr + sorted[i - 1].page_count * kPageSize > sorted[i].guest_addr)
      throw Error("guest regions at " + std::to_string(sorted[i - 1].guest_addr) + " and " +
                  std::to_string(sorted[i].guest_addr) + " overlap");
  return layout;
}

}  // namespace

WriteStats write_page_store(const fs::path& snapshot_dir, std::span<const GuestRegion> regions,
                            const WriteOptions& options) {
  auto start = std::chrono::steady_clock::now();
  const uint32_t ppc = options.pages_per_chunk;
  if (ppc == 0 || ppc > kMaxPagesPerChunk)
    throw Error("pages_per_chunk " + std::to_string(ppc) + " out of range 1.." + std::to_string(kMaxPagesPerChunk));
  for (const auto& name : options.extra_files)
    if (name.empty() || name.find('/') != std::string::npos || name == kManifestName || name == kPageIndexName)
      throw Error("extra file \"" + name + "\" must be a plain file name other than the snapshot's own");

  Job job;
  job.regions = regions;
  job.layout = lay_out(regions, ppc);
  job.ppc = ppc;
  job.acceleration = std::max(1, options.lz4_acceleration);
  job.zstd_level = options.zstd_level;
  job.cold_codec = options.cold_codec;
  job.page_count = job.layout.empty() ? 0 : job.layout.back().first_page + job.layout.back().page_count;
  uint64_t chunk_count = (job.page_count + ppc - 1) / ppc;
  job.chunk_region.assign(chunk_count, UINT32_MAX);
  for (uint32_t r = 0; r < job.layout.size(); ++r) {
    const auto& l = job.layout[r];
    for (uint64_t c = l.first_page / ppc; c * ppc < l.first_page + l.page_count; ++c) job.chunk_region[c] = r;
  }
  job.zero_bitmap.assign((job.page_count + 63) / 64, ~0ull);
  if (job.page_count % 64) job.zero_bitmap.back() = (1ull << (job.page_count % 64)) - 1;
  job.records.assign(chunk_count, ChunkRecord{});
  if (!options.hot_chunks.empty()) {
    job.hot.assign(chunk_count, false);
    for (uint64_t c : options.hot_chunks)
      if (c < chunk_count) job.hot[c] = true;
  }
  job.duplicate_of.assign(chunk_count, kNoChunk);
  job.existing_of.assign(chunk_count, -1);

  std::error_code ec;
  fs::create_directories(snapshot_dir, ec);
  if (ec) throw SystemError("mkdir", snapshot_dir.string(), ec.value());
  if (fs::exists(snapshot_dir / kManifestName))
    throw Error(snapshot_dir.string() + ": already holds a snapshot (manifest.json exists)");
  bool shared_store = !options.store_dir.empty();
  fs::path store = shared_store ? fs::absolute(options.store_dir) : snapshot_dir / kDefaultStoreName;
  ExistingObjects existing = load_existing_objects(store);
  if (!existing.objects.empty()) job.existing = &existing;
  PackWriter pack(store);
  job.pack = &pack;

  unsigned threads = options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<uint64_t>(threads, std::max<uint64_t>(1, chunk_count / kChunksPerGrab)));
  run_on_threads(threads, job.failed, [&] { ChunkWorker(job).run(); });

  // Resolve reused objects, collect the new pack's entries and the snapshot's pack list.
  Manifest m;
  std::vector<PackEntry> entries;
  std::vector<int64_t> pack_slot(existing.packs.size(), -1);  // existing pack -> manifest pack index
  const uint32_t new_pack = 0;
  m.packs.push_back({pack.name(), 0});
  WriteStats stats;
  uint64_t referenced = 0;
  std::unordered_map<const StoredObject*, bool> counted;
  for (uint64_t c = 0; c < chunk_count; ++c) {
    ChunkRecord& rec = job.records[c];
    if (rec.raw_bytes == 0) continue;
    ++stats.chunks;
    if (job.existing_of[c] >= 0) {
      const StoredObject* o = job.existing_objects[static_cast<size_t>(job.existing_of[c])];
      if (pack_slot[o->pack] < 0) {
        pack_slot[o->pack] = static_cast<int64_t>(m.packs.size());
        m.packs.push_back({existing.packs[o->pack], existing.pack_bytes[o->pack]});
      }
      rec.pack = static_cast<uint32_t>(pack_slot[o->pack]);
      rec.offset = o->offset;
      rec.stored_bytes = o->stored_bytes;
      rec.encoding = o->encoding;
      rec.checksum = o->checksum;
      if (counted.try_emplace(o, true).second) referenced += o->stored_bytes;
    } else if (job.duplicate_of[c] != kNoChunk) {
      const ChunkRecord& first = job.records[job.duplicate_of[c]];
      rec.pack = new_pack;
      rec.offset = first.offset;
      rec.stored_bytes = first.stored_bytes;
      rec.encoding = first.encoding;
      rec.checksum = first.checksum;
    } else {
      rec.pack = new_pack;
      ++stats.stored_chunks;
      stats.stored_bytes += rec.stored_bytes;
      referenced += rec.stored_bytes;
      entries.push_back({rec.hash_low, rec.hash_high, rec.offset, rec.stored_bytes, rec.raw_bytes, rec.encoding, 0,
                         rec.checksum});
    }
  }
  stats.dedupe_hits = stats.chunks - stats.stored_chunks;
  for (const auto& l : job.layout) stats.pages += l.page_count;
  stats.zero_pages = job.zero_pages.load();
  stats.raw_bytes = stats.pages * kPageSize;

  if (pack.seal(entries)) {
    m.packs[new_pack].bytes = pack.bytes();
  } else {
    // Nothing new was stored: drop the unused pack slot and renumber the others.
    m.packs.erase(m.packs.begin());
    for (auto& rec : job.records)
      if (rec.raw_bytes != 0) --rec.pack;
  }
  if (!shared_store) fsync_directory(snapshot_dir);

  auto index = serialize_page_index(ppc, job.page_count, static_cast<uint32_t>(m.packs.size()), job.zero_bitmap,
                                    job.records);
  write_file_atomic(snapshot_dir / kPageIndexName, index);

  m.engine_version = THAW_ENGINE_VERSION;
  m.created = utc_timestamp_now();
  m.pages_per_chunk = ppc;
  m.page_count = job.page_count;
  m.chunk_count = chunk_count;
  m.regions = job.layout;
  m.store = shared_store ? store.string() : std::string(kDefaultStoreName);
  m.totals = {stats.pages,     stats.zero_pages, stats.chunks,       stats.stored_chunks, stats.dedupe_hits,
              stats.raw_bytes, stats.stored_bytes, referenced};
  m.files[std::string(kPageIndexName)] = {index.size(), hash128(index)};
  for (const auto& name : options.extra_files) m.files[name] = describe_file(snapshot_dir / name);
  m.metadata = options.metadata.is_object() ? options.metadata : nlohmann::json::object();
  write_manifest(snapshot_dir, m);

  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace thaw::snapshot
