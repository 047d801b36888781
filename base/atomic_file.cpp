#include "base/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "base/error.h"
#include "base/random.h"
#include "base/unique_fd.h"

namespace thaw {
namespace {

constexpr std::string_view kTempMarker = ".tmp-";

std::function<void(AtomicWriteStep)>& observer() {
  static std::function<void(AtomicWriteStep)> o;
  return o;
}

void step(AtomicWriteStep s) {
  if (observer()) observer()(s);
}

}  // namespace

void set_atomic_write_observer(std::function<void(AtomicWriteStep)> o) { observer() = std::move(o); }

void fsync_directory(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw_errno("open", dir.string());
  if (::fsync(fd.get()) != 0) throw_errno("fsync", dir.string());
}

void write_file_atomic(const std::filesystem::path& file, std::span<const std::byte> bytes) {
  auto tmp = file;
  tmp += std::string(kTempMarker) + std::to_string(::getpid()) + "-" + std::to_string(random_u64());
  auto fail = [&](const char* call) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw_error_number(e, call, tmp.string());
  };
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd) throw_errno("open", tmp.string());
    step(AtomicWriteStep::kTempCreated);
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("write");
      }
      done += static_cast<size_t>(n);
    }
    step(AtomicWriteStep::kTempWritten);
    if (::fsync(fd.get()) != 0) fail("fsync");
    step(AtomicWriteStep::kTempSynced);
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) fail("rename");
  step(AtomicWriteStep::kRenamed);
  fsync_directory(file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path());
  step(AtomicWriteStep::kDirectorySynced);
}

void write_file_atomic(const std::filesystem::path& file, std::string_view text) {
  write_file_atomic(file, std::as_bytes(std::span(text.data(), text.size())));
}

void remove_stale_temp_files(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().filename().string().find(kTempMarker) == std::string::npos) continue;
    std::error_code ignored;
    std::filesystem::remove(e.path(), ignored);
  }
}

}  // namespace thaw
