#include "guest/agent/kernel_log.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace thaw::agent {

KernelLog::KernelLog() : fd_(::open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)) {}

void KernelLog::mark() {
  if (fd_) ::lseek(fd_.get(), 0, SEEK_END);
}

bool KernelLog::wait_for(std::string_view text, std::chrono::milliseconds timeout) {
  if (!fd_) return false;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char record[8192];  // one read() returns one whole record
  for (;;) {
    ssize_t n = ::read(fd_.get(), record, sizeof record);
    if (n > 0) {
      if (std::string_view(record, static_cast<size_t>(n)).find(text) != std::string_view::npos) return true;
      continue;
    }
    if (n < 0 && errno == EPIPE) continue;  // records were overwritten: go on with the next
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_.get(), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
}

}  // namespace thaw::agent
