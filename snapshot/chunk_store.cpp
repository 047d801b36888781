#include "snapshot/chunk_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>

#include "base/error.h"
#include "base/log.h"

namespace thaw::snapshot {

namespace fs = std::filesystem;

std::filesystem::path pack_index_path(const std::filesystem::path& pack_file) {
  auto p = pack_file;
  p.replace_extension(".idx");
  return p;
}

namespace {

// Reads one pack index; throws thaw::Error if it is corrupt or does not fit its pack.
std::vector<PackEntry> read_pack_index(const fs::path& idx_file, const fs::path& pack_file, uint64_t& pack_bytes) {
  auto data = read_whole_file(idx_file, 1ull << 34);
  if (data.size() < sizeof(PackIndexHeader) + 8) throw Error(idx_file.string() + ": truncated");
  PackIndexHeader h;
  std::memcpy(&h, data.data(), sizeof h);
  check_file_header(h.file, kPackIndexMagic, sizeof h, idx_file);
  uint64_t sum;
  std::memcpy(&sum, data.data() + data.size() - 8, 8);
  if (hash64(std::span(data).first(data.size() - 8)) != sum) throw Error(idx_file.string() + ": checksum mismatch");
  if (h.file.header_bytes > data.size() - 8 ||
      (data.size() - 8 - h.file.header_bytes) / sizeof(PackEntry) != h.entry_count ||
      (data.size() - 8 - h.file.header_bytes) % sizeof(PackEntry) != 0)
    throw Error(idx_file.string() + ": entry count does not match the file size");
  std::error_code ec;
  uint64_t actual = fs::file_size(pack_file, ec);
  if (ec) throw Error(pack_file.string() + ": pack file is missing");
  if (actual != h.pack_bytes) throw Error(pack_file.string() + ": size differs from its index");
  std::vector<PackEntry> entries(h.entry_count);
  std::memcpy(entries.data(), data.data() + h.file.header_bytes, entries.size() * sizeof(PackEntry));
  for (const auto& e : entries)
    if (e.offset < sizeof(PackHeader) || e.offset > h.pack_bytes || e.stored_bytes > h.pack_bytes - e.offset)
      throw Error(idx_file.string() + ": an entry points outside its pack");
  pack_bytes = h.pack_bytes;
  return entries;
}

}  // namespace

PackCollection remove_unreferenced_packs(const fs::path& store_dir, const std::set<std::string>& referenced) {
  PackCollection out;
  fs::path packs = store_dir / kPackDirName;
  std::error_code ec;
  if (!fs::is_directory(packs, ec)) return out;
  for (const auto& entry : fs::directory_iterator(packs, ec)) {
    const fs::path& p = entry.path();
    if (p.extension() != ".pack" || referenced.count(p.filename().string())) continue;
    std::error_code size_ec, rm_ec;
    uint64_t bytes = fs::file_size(p, size_ec);
    fs::remove(pack_index_path(p), rm_ec);  // the index first: a pack without one is never reused
    if (fs::remove(p, rm_ec)) {
      ++out.packs_removed;
      out.bytes_removed += size_ec ? 0 : bytes;
    }
  }
  // Indexes whose pack is gone.
  for (const auto& entry : fs::directory_iterator(packs, ec)) {
    const fs::path& p = entry.path();
    if (p.extension() != ".idx") continue;
    fs::path pack = p;
    pack.replace_extension(".pack");
    std::error_code rm_ec;
    if (!fs::exists(pack)) fs::remove(p, rm_ec);
  }
  if (out.packs_removed) fsync_directory(packs);
  return out;
}

ExistingObjects load_existing_objects(const fs::path& store_dir) {
  ExistingObjects out;
  fs::path packs = store_dir / kPackDirName;
  std::error_code ec;
  if (!fs::is_directory(packs, ec)) return out;
  for (const auto& entry : fs::directory_iterator(packs)) {
    const fs::path& p = entry.path();
    if (p.extension() != ".pack") continue;
    fs::path idx = pack_index_path(p);
    if (!fs::exists(idx)) continue;  // unsealed: a writer crashed or is still writing
    try {
      uint64_t bytes = 0;
      auto entries = read_pack_index(idx, p, bytes);
      uint32_t pack = static_cast<uint32_t>(out.packs.size());
      out.packs.push_back(p.filename().string());
      out.pack_bytes.push_back(bytes);
      for (const auto& e : entries)
        out.objects.try_emplace(Hash128{e.hash_low, e.hash_high},
                                StoredObject{pack, e.offset, e.stored_bytes, e.raw_bytes, e.encoding, e.checksum});
    } catch (const Error& e) {
      spdlog::warn("chunk store: ignoring pack: {}", e.what());
    }
  }
  return out;
}

PackWriter::PackWriter(const fs::path& store_dir) : dir_(store_dir / kPackDirName) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw SystemError("mkdir", dir_.string(), ec.value());
  std::random_device rd;
  auto now = std::chrono::system_clock::now().time_since_epoch();
  char buf[80];
  std::snprintf(buf, sizeof buf, "pack-%016llx-%08x%08x.pack",
                static_cast<unsigned long long>(std::chrono::duration_cast<std::chrono::microseconds>(now).count()),
                rd(), rd());
  name_ = buf;
  fs::path file = dir_ / name_;
  fd_.reset(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd_) throw_errno("open", file.string());
  PackHeader h{};
  h.file = make_file_header(kPackMagic, sizeof h);
  write_at(0, as_bytes_of(h));
}

PackWriter::~PackWriter() {
  if (!sealed_) ::unlink((dir_ / name_).c_str());
}

void PackWriter::write_at(uint64_t offset, std::span<const std::byte> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pwrite(fd_.get(), bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("pwrite", (dir_ / name_).string());
    }
    done += static_cast<size_t>(n);
  }
}

void PackWriter::write_dictionary(std::span<const std::byte> dictionary) {
  if (dictionary.empty() || dictionary.size() > UINT32_MAX) throw Error("pack dictionary of impossible size");
  PackHeader h{};
  h.file = make_file_header(kPackMagic, sizeof h);
  h.dictionary_offset = reserve(dictionary.size());
  h.dictionary_bytes = static_cast<uint32_t>(dictionary.size());
  write_at(h.dictionary_offset, dictionary);
  write_at(0, as_bytes_of(h));
}

bool PackWriter::seal(std::span<const PackEntry> entries) {
  fs::path file = dir_ / name_;
  if (entries.empty()) {
    fd_.reset();
    ::unlink(file.c_str());
    sealed_ = true;
    return false;
  }
  if (::fsync(fd_.get()) != 0) throw_errno("fsync", file.string());
  PackIndexHeader h{};
  h.file = make_file_header(kPackIndexMagic, sizeof h);
  h.entry_count = entries.size();
  h.pack_bytes = end_.load();
  std::vector<std::byte> data(sizeof h + entries.size_bytes() + 8);
  std::memcpy(data.data(), &h, sizeof h);
  std::memcpy(data.data() + sizeof h, entries.data(), entries.size_bytes());
  uint64_t sum = hash64(std::span(data).first(data.size() - 8));
  std::memcpy(data.data() + data.size() - 8, &sum, 8);
  write_file_atomic(pack_index_path(file), data);
  sealed_ = true;
  return true;
}

}  // namespace thaw::snapshot
