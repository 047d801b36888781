#include "engine/code_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <utility>
#include <vector>

#include "base/atomic_file.h"
#include "base/base64.h"
#include "base/error.h"
#include "base/random.h"
#include "base/unique_fd.h"
#include "base/sha256.h"
#include "thaw/error.h"

namespace thaw::engine {
namespace fs = std::filesystem;
namespace {

// 1980-01-02 00:00 UTC: the zip format's first day, plus one so no time zone makes it earlier.
constexpr time_t kFixedMtime = 315619200;

[[noreturn]] void invalid(const std::string& what) { throw EngineError(ErrorCode::kInvalidParameter, what); }

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
using ZipHandle = std::unique_ptr<zip_t, ZipCloser>;
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

std::string zip_open_error(int code) {
  zip_error_t e;
  zip_error_init_with_code(&e, code);
  std::string s = zip_error_strerror(&e);
  zip_error_fini(&e);
  return s;
}

ZipHandle open_zip(const fs::path& path, int flags) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), flags, &err);
  if (!z) invalid("the code is not a valid .zip file (" + zip_open_error(err) + ")");
  return ZipHandle(z);
}

// Entry names are relative paths inside the code; nothing may climb out of it.
bool is_safe_relative(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.find('\\') != std::string_view::npos) return false;
  size_t start = 0;
  while (start < name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    if (name.substr(start, end - start) == "..") return false;
    start = end + 1;
  }
  return true;
}

uint32_t unix_mode(zip_t* z, zip_uint64_t i) {
  zip_uint8_t opsys = 0;
  zip_uint32_t attr = 0;
  if (zip_file_get_external_attributes(z, i, 0, &opsys, &attr) == 0 && opsys == ZIP_OPSYS_UNIX && (attr >> 16) != 0)
    return attr >> 16;
  return 0;
}

// Checks every entry: safe names and the unzipped total, which it returns.
uint64_t check_entries(zip_t* z) {
  zip_int64_t n = zip_get_num_entries(z, 0);
  uint64_t total = 0;
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    if (zip_stat_index(z, zip_uint64_t(i), 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME))
      invalid("the code's .zip has an unreadable entry " + std::to_string(i));
    if (!is_safe_relative(st.name))
      invalid(std::string("the code's .zip has an entry outside the code directory: '") + st.name + "'");
    if (st.valid & ZIP_STAT_SIZE) total += st.size;
  }
  if (total > kMaxUnzippedBytes)
    invalid("unzipped size must be smaller than " + std::to_string(kMaxUnzippedBytes) + " bytes (it is " +
            std::to_string(total) + ")");
  return total;
}

void add_tree(zip_t* z, const fs::path& root) {
  std::vector<fs::path> entries;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it)
    entries.push_back(it->path());
  std::sort(entries.begin(), entries.end());
  for (const auto& p : entries) {
    std::string rel = p.lexically_relative(root).generic_string();  // symlinks as they are
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) throw_errno("lstat", p.string());
    zip_int64_t idx;
    if (S_ISDIR(st.st_mode)) {
      idx = zip_dir_add(z, rel.c_str(), ZIP_FL_ENC_UTF_8);
    } else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
      zip_source_t* src;
      if (S_ISLNK(st.st_mode)) {
        // A symlink's entry holds its target; the source owns a malloc'd copy until zip_close.
        std::string target = fs::read_symlink(p).string();
        char* copy = static_cast<char*>(std::malloc(target.size() + 1));
        std::memcpy(copy, target.c_str(), target.size() + 1);
        src = zip_source_buffer(z, copy, target.size(), 1);
        if (!src) std::free(copy);
      } else {
        src = zip_source_file(z, p.c_str(), 0, -1);
      }
      if (!src) throw Error("zip: cannot read " + p.string() + ": " + zip_strerror(z));
      idx = zip_file_add(z, rel.c_str(), src, ZIP_FL_ENC_UTF_8);
      if (idx < 0) zip_source_free(src);
    } else {
      continue;  // sockets, fifos, devices: not code
    }
    if (idx < 0) throw Error("zip: cannot add " + rel + ": " + zip_strerror(z));
    zip_file_set_external_attributes(z, zip_uint64_t(idx), 0, ZIP_OPSYS_UNIX, uint32_t(st.st_mode) << 16);
    zip_file_set_mtime(z, zip_uint64_t(idx), kFixedMtime, 0);
  }
}

fs::path temp_beside(const fs::path& dir, const char* what) { return dir / (std::string(what) + ".tmp-" + random_hex(8)); }

}  // namespace

std::string hex_to_base64(const std::string& hex) {
  std::string raw;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) raw += char(std::stoi(hex.substr(i, 2), nullptr, 16));
  return base64_encode(raw);
}

CodeStore::CodeStore(fs::path dir) : dir_(std::move(dir)) {
  fs::create_directories(dir_);
  remove_stale_temp_files(dir_);
}

fs::path CodeStore::zip_path(const std::string& hex) const { return dir_ / (hex + ".zip"); }
bool CodeStore::contains(const std::string& hex) const { return fs::exists(zip_path(hex)); }

uint64_t CodeStore::unzipped_size(const std::string& hex) const {
  return check_entries(open_zip(zip_path(hex), ZIP_RDONLY).get());
}

StoredCode CodeStore::store_zip_file(const fs::path& zip, bool move) {
  StoredCode c;
  {
    auto z = open_zip(zip, ZIP_RDONLY | ZIP_CHECKCONS);
    c.unzipped_size = check_entries(z.get());
  }
  c.size = fs::file_size(zip);
  if (c.size > kMaxZipBytes)
    throw EngineError(ErrorCode::kTooLarge, "the code's .zip is " + std::to_string(c.size) +
                                                " bytes, over Lambda's limit of " + std::to_string(kMaxZipBytes));
  c.sha256_hex = sha256_file(zip.string());
  c.sha256_base64 = hex_to_base64(c.sha256_hex);
  auto dest = zip_path(c.sha256_hex);
  {
    std::lock_guard lock(mu_);
    if (fs::exists(dest)) {
      c.pin = pin(c.sha256_hex);
      if (move) fs::remove(zip);
      return c;
    }
  }
  auto tmp = move ? zip : temp_beside(dir_, "copy");
  if (!move) fs::copy_file(zip, tmp);
  {
    // The bytes are durable before the name points at them.
    UniqueFd fd(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("open", tmp.string());
    if (::fsync(fd.get()) != 0) throw_errno("fsync", tmp.string());
  }
  std::lock_guard lock(mu_);
  fs::rename(tmp, dest);
  fsync_directory(dir_);
  c.pin = pin(c.sha256_hex);
  return c;
}

StoredCode CodeStore::put(const FunctionCode& code) {
  int given = !code.directory.empty() + !code.zip_file.empty() + !code.zip_bytes.empty();
  if (given != 1) invalid("give the function's code as exactly one of a directory, a .zip file or .zip bytes");
  if (!code.zip_file.empty()) {
    if (!fs::is_regular_file(code.zip_file)) invalid("code: no such .zip file: " + code.zip_file);
    return store_zip_file(code.zip_file, false);
  }
  auto tmp = temp_beside(dir_, "new");
  try {
    if (!code.zip_bytes.empty()) {
      if (code.zip_bytes.size() > kMaxZipBytes)
        throw EngineError(ErrorCode::kTooLarge, "the code's .zip is " + std::to_string(code.zip_bytes.size()) +
                                                    " bytes, over Lambda's limit of " + std::to_string(kMaxZipBytes));
      write_file_atomic(tmp, code.zip_bytes);
    } else {
      if (!fs::is_directory(code.directory)) invalid("code: no such directory: " + code.directory);
      int err = 0;
      zip_t* z = zip_open(tmp.c_str(), ZIP_CREATE | ZIP_EXCL, &err);
      if (!z) throw Error("zip: cannot create " + tmp.string() + ": " + zip_open_error(err));
      try {
        add_tree(z, code.directory);
      } catch (...) {
        zip_discard(z);
        throw;
      }
      if (zip_close(z) != 0) {
        std::string why = zip_strerror(z);
        zip_discard(z);
        throw Error("zip: cannot write " + tmp.string() + ": " + why);
      }
      if (!fs::exists(tmp)) invalid("code: the directory " + code.directory + " is empty");
    }
    return store_zip_file(tmp, true);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

void CodeStore::extract(const std::string& hex, const fs::path& out_dir) const {
  auto z = open_zip(zip_path(hex), ZIP_RDONLY);
  check_entries(z.get());
  fs::create_directories(out_dir);
  zip_int64_t n = zip_get_num_entries(z.get(), 0);
  std::vector<char> buf(1 << 16);
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    zip_stat_index(z.get(), zip_uint64_t(i), 0, &st);
    std::string name = st.name;
    uint32_t mode = unix_mode(z.get(), zip_uint64_t(i));
    fs::path dest = out_dir / name;
    if (name.back() == '/' || S_ISDIR(mode)) {
      fs::create_directories(dest);
      continue;
    }
    fs::create_directories(dest.parent_path());
    std::unique_ptr<zip_file_t, ZipFileCloser> f(zip_fopen_index(z.get(), zip_uint64_t(i), 0));
    if (!f) throw Error("zip: cannot read " + name + ": " + zip_strerror(z.get()));
    std::string content;
    for (;;) {
      zip_int64_t got = zip_fread(f.get(), buf.data(), buf.size());
      if (got < 0) throw Error("zip: cannot read " + name + ": " + zip_file_strerror(f.get()));
      if (got == 0) break;
      content.append(buf.data(), size_t(got));
    }
    if (S_ISLNK(mode)) {
      if (!is_safe_relative(content)) invalid("the code's .zip has a symlink out of the code directory: " + name);
      fs::create_symlink(content, dest);
      continue;
    }
    std::ofstream out(dest, std::ios::binary);
    out.write(content.data(), std::streamsize(content.size()));
    out.close();
    if (!out) throw Error("cannot write " + dest.string() + " while unpacking the function's code");
    // Without a Unix mode, files are readable and not executable (as Lambda's defaults).
    ::chmod(dest.c_str(), mode ? (mode & 07777) : 0644);
  }
}

CodePin::CodePin(CodePin&& o) noexcept : store_(std::exchange(o.store_, nullptr)), hex_(std::move(o.hex_)) {}

CodePin& CodePin::operator=(CodePin&& o) noexcept {
  if (this != &o) {
    release();
    store_ = std::exchange(o.store_, nullptr);
    hex_ = std::move(o.hex_);
  }
  return *this;
}

void CodePin::release() noexcept {
  if (store_) std::exchange(store_, nullptr)->unpin(hex_);
}

CodePin CodeStore::pin(const std::string& hex) {
  ++pins_[hex];
  return CodePin(this, hex);
}

void CodeStore::unpin(const std::string& hex) noexcept {
  std::lock_guard lock(mu_);
  auto it = pins_.find(hex);
  if (it != pins_.end() && --it->second == 0) pins_.erase(it);
}

void CodeStore::remove_unless_pinned(const std::string& hex) {
  std::lock_guard lock(mu_);
  if (pins_.count(hex)) return;
  std::error_code ec;
  fs::remove(zip_path(hex), ec);
}

unsigned CodeStore::remove_unreferenced(const std::set<std::string>& referenced) {
  std::lock_guard lock(mu_);
  unsigned removed = 0;
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (e.path().extension() != ".zip") continue;
    if (referenced.count(e.path().stem().string()) || pins_.count(e.path().stem().string())) continue;
    std::error_code ec;
    if (fs::remove(e.path(), ec)) ++removed;
  }
  return removed;
}

}  // namespace thaw::engine
