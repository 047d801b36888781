#include "snapshot/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "base/error.h"
#include "base/unique_fd.h"

namespace thaw::snapshot {

Hash128 hash128(std::span<const std::byte> bytes) {
  XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return {h.low64, h.high64};
}

uint64_t hash64(std::span<const std::byte> bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

std::string to_hex(const Hash128& h) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s(32, '0');
  for (int i = 0; i < 16; ++i) s[15 - i] = digits[(h.high >> (4 * i)) & 15];
  for (int i = 0; i < 16; ++i) s[31 - i] = digits[(h.low >> (4 * i)) & 15];
  return s;
}

Hash128 hash_from_hex(std::string_view hex, std::string_view what) {
  if (hex.size() != 32) throw Error(std::string(what) + ": checksum is not 32 hex digits");
  Hash128 h;
  for (size_t i = 0; i < 32; ++i) {
    char c = hex[i];
    uint64_t v;
    if (c >= '0' && c <= '9') v = static_cast<uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f') v = static_cast<uint64_t>(c - 'a' + 10);
    else throw Error(std::string(what) + ": checksum is not 32 lowercase hex digits");
    uint64_t& word = i < 16 ? h.high : h.low;
    word = (word << 4) | v;
  }
  return h;
}

std::vector<std::byte> read_whole_file(const std::filesystem::path& file, uint64_t max_bytes) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) throw Error(file.string() + ": file is missing");
    throw_errno("open", file.string());
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_errno("fstat", file.string());
  if (!S_ISREG(st.st_mode)) throw Error(file.string() + ": not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    throw Error(file.string() + ": file is too large (" + std::to_string(st.st_size) + " bytes, at most " +
                std::to_string(max_bytes) + " expected)");
  std::vector<std::byte> data(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pread(fd.get(), data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("pread", file.string());
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  data.resize(done);
  return data;
}

FileHeader make_file_header(const char (&magic)[8], uint32_t header_bytes) {
  FileHeader h{};
  std::memcpy(h.magic, magic, 8);
  h.major = kBinaryMajor;
  h.minor = kBinaryMinor;
  h.header_bytes = header_bytes;
  return h;
}

void check_file_header(const FileHeader& h, const char (&magic)[8], uint32_t min_header_bytes,
                       const std::filesystem::path& file) {
  if (std::memcmp(h.magic, magic, 8) != 0)
    throw Error(file.string() + ": wrong magic (not a " + std::string(magic, 8) + " file)");
  if (h.major != kBinaryMajor)
    throw Error(file.string() + ": unsupported format version " + std::to_string(h.major) + "." +
                std::to_string(h.minor) + " (this thaw reads " + std::to_string(kBinaryMajor) + ".x)");
  if (h.header_bytes < min_header_bytes || h.header_bytes > (1u << 20))
    throw Error(file.string() + ": bad header size " + std::to_string(h.header_bytes));
}

}  // namespace thaw::snapshot
