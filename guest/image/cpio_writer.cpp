#include "guest/image/cpio_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "base/error.h"

namespace thaw::image {
namespace {

constexpr std::size_t kHeaderSize = 110;
constexpr std::uint64_t kMaxFileSize = 0xffffffffULL;  // the header's size field is 8 hex digits
constexpr std::size_t kMaxName = 4095;

}  // namespace

void check_archive_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxName) throw Error("archive path is empty or too long");
  if (name.front() == '/') throw Error("archive path must be relative: " + std::string(name));
  if (name.find('\0') != std::string_view::npos) throw Error("archive path contains a NUL byte");
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    auto part = name.substr(start, end - start);
    if (part.empty() || part == "." || part == "..")
      throw Error("archive path has an empty, '.' or '..' component: " + std::string(name));
    start = end + 1;
  }
}

void CpioWriter::emit(std::span<const std::byte> data) {
  if (!data.empty()) sink_(data);
  offset_ += data.size();
}

void CpioWriter::pad() {
  static constexpr std::byte kZeros[4] = {};
  std::size_t n = (4 - offset_ % 4) % 4;
  emit(std::span(kZeros, n));
}

void CpioWriter::header(std::string_view name, std::uint32_t mode, std::uint32_t mtime, std::uint64_t size,
                        std::uint32_t rdev_major, std::uint32_t rdev_minor, bool trailer) {
  if (finished_) throw Error("cpio archive already finished");
  if (!trailer) check_archive_name(name);
  if (size > kMaxFileSize) throw Error("file too large for a newc cpio archive: " + std::string(name));
  std::uint32_t ino = trailer ? 0 : next_ino_++;
  std::uint32_t nlink = S_ISDIR(mode) ? 2 : 1;
  char head[kHeaderSize + 1];
  std::snprintf(head, sizeof head, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino, mode, 0u, 0u,
                trailer ? 1u : nlink, mtime, static_cast<std::uint32_t>(size), 0u, 0u, rdev_major, rdev_minor,
                static_cast<std::uint32_t>(name.size() + 1), 0u);
  emit(std::as_bytes(std::span(head, kHeaderSize)));
  emit(std::as_bytes(std::span(name.data(), name.size())));
  static constexpr std::byte kNul[1] = {};
  emit(kNul);
  pad();
}

void CpioWriter::add_directory(std::string_view name, std::uint32_t mode, std::uint32_t mtime) {
  header(name, S_IFDIR | (mode & 07777), mtime, 0);
}

void CpioWriter::add_file(std::string_view name, std::uint32_t mode, std::uint32_t mtime,
                          std::span<const std::byte> data) {
  header(name, S_IFREG | (mode & 07777), mtime, data.size());
  emit(data);
  pad();
}

void CpioWriter::add_file_from_fd(std::string_view name, std::uint32_t mode, std::uint32_t mtime, int fd,
                                  std::uint64_t size, std::string_view what) {
  header(name, S_IFREG | (mode & 07777), mtime, size);
  std::vector<std::byte> buf(std::min<std::uint64_t>(size, 1 << 20));
  std::uint64_t left = size;
  while (left > 0) {
    ssize_t n = ::read(fd, buf.data(), std::min<std::uint64_t>(left, buf.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", what);
    }
    if (n == 0) throw Error("file shrank while it was being archived: " + std::string(what));
    emit(std::span(buf.data(), std::size_t(n)));
    left -= std::uint64_t(n);
  }
  pad();
}

void CpioWriter::add_symlink(std::string_view name, std::string_view target, std::uint32_t mtime) {
  if (target.empty()) throw Error("symlink with an empty target: " + std::string(name));
  header(name, S_IFLNK | 0777, mtime, target.size());
  emit(std::as_bytes(std::span(target.data(), target.size())));
  pad();
}

void CpioWriter::add_char_device(std::string_view name, std::uint32_t mode, std::uint32_t major,
                                 std::uint32_t minor) {
  header(name, S_IFCHR | (mode & 07777), 0, 0, major, minor);
}

void CpioWriter::finish() {
  header("TRAILER!!!", 0, 0, 0, 0, 0, true);
  finished_ = true;
}

FileSink::FileSink(const std::string& path)
    : path_(path), fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) {
  if (!fd_) throw_errno("open", path);
  buf_.reserve(1 << 20);
}

void FileSink::write(std::span<const std::byte> data) {
  if (buf_.size() + data.size() > (1u << 20)) flush();
  if (data.size() >= (1u << 20)) {
    buf_.assign(reinterpret_cast<const char*>(data.data()), data.size());
    flush();
    return;
  }
  buf_.append(reinterpret_cast<const char*>(data.data()), data.size());
}

void FileSink::flush() {
  std::size_t done = 0;
  while (done < buf_.size()) {
    ssize_t n = ::write(fd_.get(), buf_.data() + done, buf_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write", path_);
    }
    done += std::size_t(n);
  }
  buf_.clear();
}

void FileSink::close() {
  flush();
  if (::fsync(fd_.get()) != 0) throw_errno("fsync", path_);
  fd_.reset();
}

}  // namespace thaw::image
