#include "memory/shared_image.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "base/error.h"
#include "base/log.h"
#include "memory/guest_memory.h"
#include "memory/userfaultfd.h"

namespace thaw::memory {
namespace {

// The index file: this header, then one byte per chunk from kIndexHeader.
struct IndexHeader {
  uint64_t magic;
  uint64_t page_count;
  uint64_t pages_per_chunk;
};
constexpr uint64_t kMagic = 0x74686177'696d6731;  // "thawimg1"
constexpr size_t kIndexHeader = 64;

uint64_t chunks_of(uint64_t page_count, uint32_t pages_per_chunk) {
  return (page_count + pages_per_chunk - 1) / pages_per_chunk;
}

// A memfd of `size` bytes that nobody can shrink or grow afterwards (a shrunk file would turn
// every clone's access past its end into SIGBUS).
UniqueFd sealed_memfd(const std::string& name, uint64_t size) {
  UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) throw_errno("memfd_create", name);
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) < 0) throw_errno("ftruncate", name);
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) throw_errno("fcntl(F_ADD_SEALS)", name);
  return fd;
}

UniqueFd duplicate(int fd, const char* what) {
  UniqueFd d(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!d) throw_errno("fcntl(F_DUPFD_CLOEXEC)", what);
  return d;
}

uint64_t file_size(int fd, const char* what) {
  struct stat st {};
  if (::fstat(fd, &st) < 0) throw_errno("fstat", what);
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace

SharedImage SharedImage::create(uint64_t page_count, uint32_t pages_per_chunk, const std::string& name) {
  if (page_count == 0 || pages_per_chunk == 0) throw Error("shared image: empty page space");
  SharedImage s;
  s.page_count_ = page_count;
  s.pages_per_chunk_ = pages_per_chunk;
  s.data_ = sealed_memfd(name, page_count * kPageSize);
  uint64_t index_size = kIndexHeader + chunks_of(page_count, pages_per_chunk);
  s.index_fd_ = sealed_memfd(name + "-index", index_size);
  s.index_ = Mapping::map(index_size, PROT_READ | PROT_WRITE, MAP_SHARED, s.index_fd_.get(), 0, "shared image index");
  IndexHeader h{kMagic, page_count, pages_per_chunk};
  std::memcpy(s.index_.data(), &h, sizeof h);
  return s;
}

SharedImage SharedImage::attach(int data_fd, int index_fd, uint64_t page_count, uint32_t pages_per_chunk) {
  SharedImage s;
  s.page_count_ = page_count;
  s.pages_per_chunk_ = pages_per_chunk;
  s.data_ = duplicate(data_fd, "shared image data");
  s.index_fd_ = duplicate(index_fd, "shared image index");
  uint64_t index_size = kIndexHeader + chunks_of(page_count, pages_per_chunk);
  if (file_size(s.data_.get(), "shared image data") != page_count * kPageSize ||
      file_size(s.index_fd_.get(), "shared image index") != index_size)
    throw Error("shared image: its files do not have the size of this snapshot's memory");
  s.index_ = Mapping::map(index_size, PROT_READ | PROT_WRITE, MAP_SHARED, s.index_fd_.get(), 0, "shared image index");
  IndexHeader h;
  std::memcpy(&h, s.index_.data(), sizeof h);
  if (h.magic != kMagic || h.page_count != page_count || h.pages_per_chunk != pages_per_chunk)
    throw Error("shared image: its index describes another snapshot's memory");
  return s;
}

bool SharedImage::supported() {
  try {
    return Userfaultfd::open().has_minor_shmem();
  } catch (const std::exception&) {
    return false;
  }
}

bool SharedImage::filled(uint64_t chunk) const {
  return std::atomic_ref<std::byte>(index_.data()[kIndexHeader + chunk]).load(std::memory_order_acquire) !=
         std::byte{0};
}

void SharedImage::fill(uint64_t chunk, std::span<const std::byte> decoded, const PageSource& source) {
  const uint64_t first = chunk * pages_per_chunk_;
  const uint64_t pages = decoded.size() / kPageSize;
  for (uint64_t i = 0; i < pages;) {
    if (source.page_is_zero(first + i)) {
      ++i;
      continue;
    }
    uint64_t j = i + 1;
    while (j < pages && !source.page_is_zero(first + j)) ++j;
    size_t done = 0, len = (j - i) * kPageSize;
    while (done < len) {
      ssize_t n = ::pwrite(data_.get(), decoded.data() + i * kPageSize + done, len - done,
                           static_cast<off_t>((first + i) * kPageSize + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw_errno("pwrite", "shared image data");
      done += static_cast<size_t>(n);
    }
    i = j;
  }
  std::atomic_ref<std::byte>(index_.data()[kIndexHeader + chunk]).store(std::byte{1}, std::memory_order_release);
}

uint64_t SharedImage::filled_chunks() const {
  uint64_t n = 0;
  for (uint64_t c = 0; c < chunks_of(page_count_, pages_per_chunk_); ++c) n += filled(c);
  return n;
}

uint64_t SharedImage::filled_bytes() const {
  struct stat st {};
  if (::fstat(data_.get(), &st) < 0) throw_errno("fstat", "shared image data");
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

}  // namespace thaw::memory
