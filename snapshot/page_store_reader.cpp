#include "snapshot/page_store_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <thread>

#include "base/error.h"
#include "base/worker_threads.h"
#include "snapshot/chunk_codec.h"

namespace thaw::snapshot {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMaxIndexBytes = 1ull << 32;

// Non-zero pages of chunk `c` according to the bitmap.
uint32_t nonzero_pages(const std::vector<uint64_t>& bitmap, uint64_t first, uint64_t end) {
  uint32_t n = 0;
  for (uint64_t p = first; p < end; ++p) n += ((bitmap[p / 64] >> (p % 64)) & 1) ? 0 : 1;
  return n;
}

// The zstd dictionary a pack header names, checked to lie inside the pack; null when it has none.
std::unique_ptr<ZstdDecodingDictionary> read_pack_dictionary(int fd, const PackHeader& ph, uint64_t pack_bytes,
                                                             const fs::path& file) {
  if (ph.dictionary_bytes == 0) {
    if (ph.dictionary_offset != 0) throw Error(file.string() + ": dictionary offset without a dictionary");
    return nullptr;
  }
  if (ph.dictionary_offset < ph.file.header_bytes || ph.dictionary_offset > pack_bytes ||
      ph.dictionary_bytes > pack_bytes - ph.dictionary_offset)
    throw Error(file.string() + ": its dictionary lies outside the pack");
  std::vector<std::byte> bytes(ph.dictionary_bytes);
  if (::pread(fd, bytes.data(), bytes.size(), static_cast<off_t>(ph.dictionary_offset)) !=
      static_cast<ssize_t>(bytes.size()))
    throw Error(file.string() + ": cannot read its dictionary");
  try {
    return std::make_unique<ZstdDecodingDictionary>(bytes);
  } catch (const Error& e) {
    throw Error(file.string() + ": bad dictionary (" + e.what() + ")");
  }
}

}  // namespace

std::unique_ptr<PageStoreReader> PageStoreReader::open(const fs::path& snapshot_dir) {
  Manifest m = read_manifest(snapshot_dir);
  try {
    return open_with(snapshot_dir, m);
  } catch (const std::exception&) {
    // A repack (repack.h) may have replaced the manifest, and removed the files the one read
    // here names, before they were opened: then open what the new one names. A manifest that
    // did not change means the error is real.
    Manifest now = read_manifest(snapshot_dir);
    if (serialize_manifest(now) == serialize_manifest(m)) throw;
    return open_with(snapshot_dir, std::move(now));
  }
}

std::unique_ptr<PageStoreReader> PageStoreReader::open_with(const fs::path& snapshot_dir, Manifest manifest) {
  std::unique_ptr<PageStoreReader> r(new PageStoreReader());
  r->dir_ = snapshot_dir;
  r->manifest_ = std::move(manifest);
  const Manifest& m = r->manifest_;

  // Page index: read once, checked against the manifest's size and checksum.
  fs::path index_file = snapshot_dir / m.page_index;
  auto index = read_whole_file(index_file, kMaxIndexBytes);
  const FileEntry& listed = m.files.at(m.page_index);
  if (index.size() != listed.bytes)
    throw Error(index_file.string() + ": size " + std::to_string(index.size()) + " bytes, manifest says " +
                std::to_string(listed.bytes) + (index.size() < listed.bytes ? " (truncated)" : ""));
  if (hash128(index) != listed.xxh3_128) throw Error(index_file.string() + ": checksum mismatch");
  for (const auto& [name, entry] : m.files) {
    if (name == m.page_index) continue;
    Manifest one;
    one.files[name] = entry;
    verify_listed_files(snapshot_dir, one);
  }

  auto fail = [&](const std::string& what) { throw Error(index_file.string() + ": " + what); };
  if (index.size() < sizeof(PageIndexHeader)) fail("truncated header");
  PageIndexHeader h;
  std::memcpy(&h, index.data(), sizeof h);
  check_file_header(h.file, kPageIndexMagic, sizeof h, index_file);
  if (h.reserved != 0) fail("reserved header field is not zero");
  if (h.page_size != kPageSize) fail("wrong page size " + std::to_string(h.page_size));
  if (h.pages_per_chunk != m.pages_per_chunk || h.page_count != m.page_count || h.chunk_count != m.chunk_count)
    fail("page layout differs from the manifest");
  if (h.pack_count != m.packs.size()) fail("pack count differs from the manifest");
  uint64_t words = (h.page_count + 63) / 64;
  if (h.file.header_bytes > index.size() || (index.size() - h.file.header_bytes) / 8 < words ||
      (index.size() - h.file.header_bytes - words * 8) / sizeof(ChunkRecord) != h.chunk_count ||
      (index.size() - h.file.header_bytes - words * 8) % sizeof(ChunkRecord) != 0)
    fail("file size does not match its page and chunk counts");
  r->zero_bitmap_.resize(words);
  std::memcpy(r->zero_bitmap_.data(), index.data() + h.file.header_bytes, words * 8);
  r->records_.resize(h.chunk_count);
  std::memcpy(r->records_.data(), index.data() + h.file.header_bytes + words * 8, h.chunk_count * sizeof(ChunkRecord));
  if (h.page_count % 64 && (r->zero_bitmap_.back() >> (h.page_count % 64)) != 0)
    fail("zero bitmap has bits past the last page");

  // Packs: present, the recorded size, a valid header.
  fs::path store = store_path(snapshot_dir, m);
  for (const auto& p : m.packs) {
    fs::path file = store / kPackDirName / p.name;
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) throw Error(file.string() + ": pack file is missing");
      throw_errno("open", file.string());
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw_errno("fstat", file.string());
    if (static_cast<uint64_t>(st.st_size) != p.bytes)
      throw Error(file.string() + ": size " + std::to_string(st.st_size) + " bytes, manifest says " +
                  std::to_string(p.bytes) + (static_cast<uint64_t>(st.st_size) < p.bytes ? " (truncated)" : ""));
    PackHeader ph{};
    if (p.bytes < sizeof ph || ::pread(fd.get(), &ph, sizeof ph, 0) != static_cast<ssize_t>(sizeof ph))
      throw Error(file.string() + ": truncated header");
    check_file_header(ph.file, kPackMagic, sizeof ph, file);
    if (ph.reserved != 0) throw Error(file.string() + ": reserved header field is not zero");
    r->pack_dictionaries_.push_back(read_pack_dictionary(fd.get(), ph, p.bytes, file));
    r->pack_header_bytes_.push_back(ph.file.header_bytes);
    r->pack_paths_.push_back(file);
    r->pack_fds_.push_back(std::move(fd));
  }

  // Every chunk record against the bitmap and its pack.
  const uint32_t ppc = m.pages_per_chunk;
  for (uint64_t c = 0; c < h.chunk_count; ++c) {
    const ChunkRecord& rec = r->records_[c];
    uint64_t first = c * ppc;
    uint64_t end = std::min<uint64_t>(first + ppc, h.page_count);
    uint32_t nonzero = nonzero_pages(r->zero_bitmap_, first, end);
    auto bad = [&](const std::string& what) { fail("chunk " + std::to_string(c) + ": " + what); };
    if (nonzero == 0) {
      if (rec.encoding != kEncodingNone || rec.stored_bytes != 0 || rec.raw_bytes != 0)
        bad("stored although all its pages are zero");
      continue;
    }
    if (rec.raw_bytes != static_cast<uint64_t>(nonzero) * kPageSize)
      bad("length disagrees with the zero bitmap");
    size_t most = max_stored_bytes(rec.encoding, rec.raw_bytes);
    if (most == 0) bad("unknown encoding " + std::to_string(rec.encoding));
    if (rec.encoding == kEncodingRaw && rec.stored_bytes != rec.raw_bytes) bad("raw chunk with a compressed length");
    if (rec.stored_bytes == 0 || rec.stored_bytes > most) bad("impossible compressed length");
    if (rec.pack >= m.packs.size()) bad("names pack " + std::to_string(rec.pack) + " of " + std::to_string(m.packs.size()));
    uint64_t pack_bytes = m.packs[rec.pack].bytes;
    if (rec.offset < r->pack_header_bytes_[rec.pack] || rec.offset > pack_bytes || rec.stored_bytes > pack_bytes - rec.offset)
      bad("points outside its pack " + m.packs[rec.pack].name);
    r->max_stored_bytes_ = std::max(r->max_stored_bytes_, rec.stored_bytes);
  }
  return r;
}

bool PageStoreReader::page_is_zero(uint64_t page) const {
  if (page >= manifest_.page_count) return true;
  return (zero_bitmap_[page / 64] >> (page % 64)) & 1;
}

std::optional<memory::ChunkExtent> PageStoreReader::chunk_extent(uint64_t chunk) const {
  if (chunk >= records_.size()) throw Error("chunk " + std::to_string(chunk) + " out of range");
  const ChunkRecord& rec = records_[chunk];
  if (rec.encoding == kEncodingNone) return std::nullopt;
  return memory::ChunkExtent{pack_fds_[rec.pack].get(), rec.offset, rec.stored_bytes};
}

void PageStoreReader::chunk_error(uint64_t chunk, const std::string& what) const {
  const ChunkRecord& rec = records_[chunk];
  throw memory::PageSourceError(pack_paths_[rec.pack].string() + ": chunk " + std::to_string(chunk) + " at offset " +
                                std::to_string(rec.offset) + ": " + what);
}

void PageStoreReader::decode_chunk(uint64_t chunk, std::span<const std::byte> stored, std::span<std::byte> out) const {
  if (chunk >= records_.size()) throw memory::PageSourceError("chunk " + std::to_string(chunk) + " out of range");
  const ChunkRecord& rec = records_[chunk];
  if (out.size() != chunk_bytes(chunk)) throw memory::PageSourceError("decode_chunk: output size mismatch");
  if (rec.encoding == kEncodingNone) {
    std::memset(out.data(), 0, out.size());
    return;
  }
  if (stored.size() != rec.stored_bytes)
    chunk_error(chunk, "read " + std::to_string(stored.size()) + " bytes of " + std::to_string(rec.stored_bytes) +
                           " (pack truncated?)");
  if (hash64(stored) != rec.checksum) chunk_error(chunk, "checksum mismatch");
  if (!decode_chunk_object(rec.encoding, stored, out.first(rec.raw_bytes), pack_dictionaries_[rec.pack].get()))
    chunk_error(chunk, "bad compressed data (encoding " + std::to_string(rec.encoding) + ")");
  // Non-zero pages are packed at the front: move each to its place, back to front, and zero
  // the zero pages.
  size_t pages = out.size() / kPageSize;
  size_t k = rec.raw_bytes / kPageSize;
  if (k == pages) return;
  uint64_t first = chunk * manifest_.pages_per_chunk;
  for (size_t p = pages; p-- > 0;) {
    std::byte* dst = out.data() + p * kPageSize;
    if (page_is_zero(first + p)) {
      std::memset(dst, 0, kPageSize);
    } else {
      --k;
      if (k != p) std::memmove(dst, out.data() + k * kPageSize, kPageSize);
    }
  }
}

void PageStoreReader::read_chunk(uint64_t chunk, std::span<std::byte> out) {
  if (chunk >= records_.size()) throw Error("chunk " + std::to_string(chunk) + " out of range");
  if (out.size() != chunk_bytes(chunk)) throw Error("read_chunk: output size mismatch");
  auto ext = chunk_extent(chunk);
  if (!ext) {
    std::memset(out.data(), 0, out.size());
    return;
  }
  std::vector<std::byte> stored(ext->length);
  {
    std::lock_guard lock(ring_mutex_);
    if (!ring_) ring_ = std::make_unique<memory::IoUringReader>(8);
    int result = 0;
    ring_->queue(ext->fd, ext->offset, stored, 0);
    ring_->drain([&](uint64_t, int res) { result = res; });
    if (result < 0) throw_error_number(-result, "io_uring read", pack_paths_[records_[chunk].pack].string());
    stored.resize(static_cast<size_t>(result));
  }
  try {
    decode_chunk(chunk, stored, out);
  } catch (const memory::PageSourceError& e) {
    throw Error(e.what());
  }
}

void PageStoreReader::read_page(uint64_t page, std::span<std::byte> out) {
  if (page >= page_count()) throw Error("page " + std::to_string(page) + " out of range");
  if (out.size() != kPageSize) throw Error("read_page: output must be one page");
  if (page_is_zero(page)) {
    std::memset(out.data(), 0, out.size());
    return;
  }
  uint64_t chunk = page / pages_per_chunk();
  std::vector<std::byte> buf(chunk_bytes(chunk));
  read_chunk(chunk, buf);
  std::memcpy(out.data(), buf.data() + (page - chunk * pages_per_chunk()) * kPageSize, kPageSize);
}

void PageStoreReader::read_all(std::span<std::byte> out, unsigned queue_depth) {
  if (out.size() != page_count() * kPageSize)
    throw Error("read_all: output is " + std::to_string(out.size()) + " bytes, page space is " +
                std::to_string(page_count() * kPageSize));
  queue_depth = std::clamp(queue_depth, 1u, 4096u);
  const uint64_t chunks = records_.size();
  const uint32_t ppc = pages_per_chunk();
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  auto worker = [&] {
    // Slots (one stored-chunk buffer each) are declared before the ring: reads in flight
    // into them are drained by the ring's destructor first.
    // At most ~8 MiB of stored bytes in flight per thread, whatever the chunk size.
    const unsigned slots_wanted = std::max<unsigned>(
        4, static_cast<unsigned>((8u << 20) / std::max<uint32_t>(1, max_stored_bytes_)));
    const unsigned slots = std::min(queue_depth, slots_wanted);
    auto buffers_owner = std::make_unique_for_overwrite<std::byte[]>(static_cast<size_t>(slots) * max_stored_bytes_);
    std::span<std::byte> buffers(buffers_owner.get(), static_cast<size_t>(slots) * max_stored_bytes_);
    std::vector<uint64_t> slot_chunk(slots);
    std::vector<unsigned> free_slots(slots);
    for (unsigned i = 0; i < slots; ++i) free_slots[i] = slots - 1 - i;
    memory::IoUringReader ring(slots);
    auto done = [&](uint64_t slot, int res) {
      free_slots.push_back(static_cast<unsigned>(slot));
      uint64_t c = slot_chunk[slot];
      if (res < 0) throw_error_number(-res, "io_uring read", pack_paths_[records_[c].pack].string());
      auto stored = buffers.subspan(slot * max_stored_bytes_, static_cast<size_t>(res));
      try {
        decode_chunk(c, stored, out.subspan(c * ppc * kPageSize, chunk_bytes(c)));
      } catch (const memory::PageSourceError& e) {
        throw Error(e.what());
      }
    };
    bool more = true;
    while (!failed.load(std::memory_order_relaxed)) {
      while (more && !free_slots.empty()) {
        uint64_t c = next.fetch_add(1, std::memory_order_relaxed);
        if (c >= chunks) {
          more = false;
          break;
        }
        const ChunkRecord& rec = records_[c];
        if (rec.encoding == kEncodingNone) {
          std::memset(out.data() + c * ppc * kPageSize, 0, chunk_bytes(c));
          continue;
        }
        unsigned slot = free_slots.back();
        free_slots.pop_back();
        slot_chunk[slot] = c;
        ring.queue(pack_fds_[rec.pack].get(), rec.offset,
                   buffers.subspan(slot * max_stored_bytes_, rec.stored_bytes), slot);
      }
      if (ring.in_flight() == 0) break;
      ring.reap(done, 1);
    }
  };
  run_on_threads(std::max(1u, std::thread::hardware_concurrency()), failed, worker);
}

}  // namespace thaw::snapshot
