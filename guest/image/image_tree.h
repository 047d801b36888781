#pragma once
// The file tree of a guest's root filesystem, assembled in memory from host files and
// generated ones, then written out as a cpio archive in path order (parents first).
// Host files are referenced, not copied, until the archive is written.
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "guest/image/cpio_writer.h"

namespace thaw::image {

class ImageTree {
 public:
  enum class Kind { kDirectory, kFile, kSymlink, kCharDevice };
  struct Entry {
    Kind kind = Kind::kFile;
    std::uint32_t mode = 0644;   // permission bits
    std::uint32_t mtime = 0;
    std::string host_path;       // kFile: read from here when written, unless inline
    std::string data;            // kFile inline contents; kSymlink target
    bool is_inline = false;
    std::uint64_t size = 0;      // kFile
    std::uint32_t major = 0, minor = 0;  // kCharDevice
  };

  // Guest paths are absolute ("/usr/bin/python3.11"). Missing parents are created (0755).
  // Adding a path twice with the same kind replaces it; with another kind is an Error.
  void add_directory(std::string_view guest_path, std::uint32_t mode = 0755, std::uint32_t mtime = 0);
  void add_inline_file(std::string_view guest_path, std::string content, std::uint32_t mode = 0644,
                       std::uint32_t mtime = 0);
  // The host file's contents (symlinks followed), mode and mtime (unless given) at `guest_path`.
  void add_host_file(std::string_view guest_path, const std::string& host_path,
                     std::optional<std::uint32_t> mtime = std::nullopt);
  void add_symlink(std::string_view guest_path, std::string target, std::uint32_t mtime = 0);
  void add_char_device(std::string_view guest_path, std::uint32_t mode, std::uint32_t major, std::uint32_t minor);

  // Puts the host file or directory (not its contents) at the same path in the guest,
  // recreating every symlink met on the way, in the path or at its end, with its target:
  // /lib64/ld-linux-x86-64.so.2 gives the symlinks /lib64 -> usr/lib64 and the loader's
  // own link, plus the real file under /usr/lib/x86_64-linux-gnu.
  void add_host_path(const std::string& host_path);

  // Decides whether a host tree entry goes in: `relative` is its path below the tree's root.
  using Filter = std::function<bool(const std::string& relative, bool is_directory)>;
  // Adds the host directory `host_dir` recursively at `guest_dir`. Symlinks inside it are
  // kept as symlinks, or with `follow_symlinks` replaced by what they point to.
  void add_host_tree(const std::string& host_dir, std::string_view guest_dir, const Filter& filter,
                     bool follow_symlinks);

  bool contains(std::string_view guest_path) const;
  const std::map<std::string, Entry>& entries() const { return entries_; }
  std::uint64_t file_bytes() const;

  // Writes every entry in path order. Host files that changed size since they were added
  // are an Error (the archive would be inconsistent).
  void write(CpioWriter& out) const;

 private:
  Entry& put(std::string_view guest_path, Entry e);
  void ensure_parents(const std::string& key);
  void add_host_path_at_depth(const std::string& host_path, int depth);

  std::map<std::string, Entry> entries_;  // key: guest path without the leading '/'
};

// Seconds since the epoch as cpio stores them (32 bits, clamped).
std::uint32_t cpio_time(time_t t);

}  // namespace thaw::image
