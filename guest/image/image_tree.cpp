#include "guest/image/image_tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"

namespace thaw::image {
namespace fs = std::filesystem;
namespace {

std::string normalize(std::string_view guest_path) {
  if (guest_path.empty() || guest_path.front() != '/')
    throw Error("guest path must be absolute: '" + std::string(guest_path) + "'");
  std::string key = fs::path(guest_path).lexically_normal().string();
  while (!key.empty() && key.front() == '/') key.erase(0, 1);
  while (!key.empty() && key.back() == '/') key.pop_back();
  if (key.empty()) throw Error("the guest's root directory cannot be an entry");
  check_archive_name(key);
  return key;
}

std::string_view kind_name(ImageTree::Kind k) {
  switch (k) {
    case ImageTree::Kind::kDirectory: return "directory";
    case ImageTree::Kind::kFile: return "file";
    case ImageTree::Kind::kSymlink: return "symlink";
    case ImageTree::Kind::kCharDevice: return "device";
  }
  return "?";
}

std::string read_link(const std::string& path) {
  std::vector<char> buf(4096);
  ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
  if (n < 0) throw_errno("readlink", path);
  if (std::size_t(n) == buf.size()) throw Error("symlink target too long: " + path);
  return std::string(buf.data(), std::size_t(n));
}

}  // namespace

std::uint32_t cpio_time(time_t t) {
  if (t < 0) return 0;
  if (static_cast<std::uint64_t>(t) > 0xffffffffULL) return 0xffffffffU;
  return static_cast<std::uint32_t>(t);
}

ImageTree::Entry& ImageTree::put(std::string_view guest_path, Entry e) {
  auto key = normalize(guest_path);
  ensure_parents(key);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    if (it->second.kind != e.kind)
      throw Error("/" + key + " is already in the image as a " + std::string(kind_name(it->second.kind)) +
                  ", cannot add it as a " + std::string(kind_name(e.kind)));
    it->second = std::move(e);
    return it->second;
  }
  return entries_.emplace(key, std::move(e)).first->second;
}

void ImageTree::ensure_parents(const std::string& key) {
  for (auto slash = key.find('/'); slash != std::string::npos; slash = key.find('/', slash + 1)) {
    auto parent = key.substr(0, slash);
    auto it = entries_.find(parent);
    if (it == entries_.end()) {
      Entry d;
      d.kind = Kind::kDirectory;
      d.mode = 0755;
      entries_.emplace(parent, d);
    } else if (it->second.kind != Kind::kDirectory) {
      throw Error("cannot add /" + key + ": /" + parent + " is a " + std::string(kind_name(it->second.kind)) +
                  " in the image");
    }
  }
}

void ImageTree::add_directory(std::string_view guest_path, std::uint32_t mode, std::uint32_t mtime) {
  Entry e;
  e.kind = Kind::kDirectory;
  e.mode = mode & 07777;
  e.mtime = mtime;
  put(guest_path, e);
}

void ImageTree::add_inline_file(std::string_view guest_path, std::string content, std::uint32_t mode,
                                std::uint32_t mtime) {
  Entry e;
  e.kind = Kind::kFile;
  e.mode = mode & 07777;
  e.mtime = mtime;
  e.size = content.size();
  e.data = std::move(content);
  e.is_inline = true;
  put(guest_path, std::move(e));
}

void ImageTree::add_host_file(std::string_view guest_path, const std::string& host_path,
                              std::optional<std::uint32_t> mtime) {
  struct stat st;
  if (::stat(host_path.c_str(), &st) != 0) throw_errno("stat", host_path);
  if (!S_ISREG(st.st_mode)) throw Error("not a regular file: " + host_path);
  Entry e;
  e.kind = Kind::kFile;
  e.mode = st.st_mode & 07777;
  e.mtime = mtime ? *mtime : cpio_time(st.st_mtime);
  e.size = static_cast<std::uint64_t>(st.st_size);
  e.host_path = host_path;
  put(guest_path, std::move(e));
}

void ImageTree::add_symlink(std::string_view guest_path, std::string target, std::uint32_t mtime) {
  Entry e;
  e.kind = Kind::kSymlink;
  e.mode = 0777;
  e.mtime = mtime;
  e.data = std::move(target);
  put(guest_path, std::move(e));
}

void ImageTree::add_char_device(std::string_view guest_path, std::uint32_t mode, std::uint32_t major,
                                std::uint32_t minor) {
  Entry e;
  e.kind = Kind::kCharDevice;
  e.mode = mode & 07777;
  e.major = major;
  e.minor = minor;
  put(guest_path, e);
}

void ImageTree::add_host_path(const std::string& host_path) { add_host_path_at_depth(host_path, 0); }

void ImageTree::add_host_path_at_depth(const std::string& host_path, int depth) {
  if (depth > 40) throw Error("too many levels of symlinks: " + host_path);
  auto path = fs::path(host_path).lexically_normal();
  if (!path.is_absolute()) throw Error("host path must be absolute: " + host_path);
  fs::path cur = "/";
  for (auto it = std::next(path.begin()); it != path.end(); ++it) {
    if (it->empty()) continue;
    cur /= *it;
    struct stat st;
    if (::lstat(cur.c_str(), &st) != 0) throw_errno("lstat", cur.string());
    bool last = std::next(it) == path.end();
    if (S_ISLNK(st.st_mode)) {
      auto target = read_link(cur);
      add_symlink(cur.string(), target, cpio_time(st.st_mtime));
      fs::path resolved = fs::path(target).is_absolute() ? fs::path(target) : cur.parent_path() / target;
      for (auto rest = std::next(it); rest != path.end(); ++rest) resolved /= *rest;
      add_host_path_at_depth(resolved.lexically_normal().string(), depth + 1);
      return;
    }
    if (S_ISDIR(st.st_mode)) {
      auto key = normalize(cur.string());
      if (!entries_.contains(key) || last) add_directory(cur.string(), st.st_mode, cpio_time(st.st_mtime));
      continue;
    }
    if (!last) throw Error("not a directory: " + cur.string() + " (in " + host_path + ")");
    if (!S_ISREG(st.st_mode)) throw Error("not a regular file, directory or symlink: " + cur.string());
    add_host_file(cur.string(), cur.string());
  }
}

void ImageTree::add_host_tree(const std::string& host_dir, std::string_view guest_dir, const Filter& filter,
                              bool follow_symlinks) {
  std::error_code ec;
  auto status = fs::status(host_dir, ec);
  if (ec || !fs::is_directory(status)) throw Error("not a directory: " + host_dir);
  std::string guest_root(guest_dir);
  if (!contains(guest_root)) add_directory(guest_root);
  auto options = follow_symlinks ? fs::directory_options::follow_directory_symlink : fs::directory_options::none;
  fs::recursive_directory_iterator it(host_dir, options, ec);
  if (ec) throw SystemError("opendir", host_dir, ec.value());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) throw SystemError("readdir", host_dir, ec.value());
    const auto& entry = *it;
    auto relative = entry.path().lexically_relative(host_dir).string();
    auto guest = guest_root + "/" + relative;
    struct stat st;
    int rc = follow_symlinks ? ::stat(entry.path().c_str(), &st) : ::lstat(entry.path().c_str(), &st);
    if (rc != 0) throw_errno(follow_symlinks ? "stat" : "lstat", entry.path().string());
    bool is_dir = S_ISDIR(st.st_mode);
    if (filter && !filter(relative, is_dir)) {
      if (is_dir) it.disable_recursion_pending();
      continue;
    }
    if (S_ISLNK(st.st_mode)) {
      add_symlink(guest, read_link(entry.path()), cpio_time(st.st_mtime));
    } else if (is_dir) {
      add_directory(guest, st.st_mode, cpio_time(st.st_mtime));
    } else if (S_ISREG(st.st_mode)) {
      add_host_file(guest, entry.path().string());
    }
    // Sockets, fifos and devices in a code directory are skipped: Lambda's zip has none.
  }
}

bool ImageTree::contains(std::string_view guest_path) const { return entries_.contains(normalize(guest_path)); }

std::uint64_t ImageTree::file_bytes() const {
  std::uint64_t n = 0;
  for (const auto& [k, e] : entries_)
    if (e.kind == Kind::kFile) n += e.size;
  return n;
}

void ImageTree::write(CpioWriter& out) const {
  for (const auto& [key, e] : entries_) {
    switch (e.kind) {
      case Kind::kDirectory:
        out.add_directory(key, e.mode, e.mtime);
        break;
      case Kind::kSymlink:
        out.add_symlink(key, e.data, e.mtime);
        break;
      case Kind::kCharDevice:
        out.add_char_device(key, e.mode, e.major, e.minor);
        break;
      case Kind::kFile:
        if (e.is_inline) {
          out.add_file(key, e.mode, e.mtime, e.data);
          break;
        }
        UniqueFd fd(::open(e.host_path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) throw_errno("open", e.host_path);
        struct stat st;
        if (::fstat(fd.get(), &st) != 0) throw_errno("fstat", e.host_path);
        if (static_cast<std::uint64_t>(st.st_size) != e.size)
          throw Error("file changed while the image was being built: " + e.host_path);
        out.add_file_from_fd(key, e.mode, e.mtime, fd.get(), e.size, e.host_path);
        break;
    }
  }
}

}  // namespace thaw::image
