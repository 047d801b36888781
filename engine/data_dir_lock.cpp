#include "engine/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "base/error.h"
#include "thaw/error.h"

namespace thaw::engine {

DataDirLock::DataDirLock(const std::filesystem::path& data_dir) {
  auto path = data_dir / "lock";
  fd_.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd_) throw_errno("open", path.string());
  if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) throw_errno("flock", path.string());
    char pid[32] = {};
    ssize_t n = ::pread(fd_.get(), pid, sizeof pid - 1, 0);
    std::string holder = n > 0 ? std::string(pid, size_t(n)) : "another process";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    throw EngineError(ErrorCode::kConflict, "the data directory " + data_dir.string() +
                                                " is in use by another engine (pid " + holder +
                                                "); one engine at a time may use it");
  }
  std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_.get(), 0) == 0) (void)!::pwrite(fd_.get(), me.data(), me.size(), 0);
}

}  // namespace thaw::engine
