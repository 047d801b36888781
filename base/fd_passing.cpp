#include "base/fd_passing.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace thaw {

ssize_t send_with_fds(int socket, std::string_view bytes, std::span<const int> fds) {
  if (fds.size() > kMaxPassedFds) {
    errno = EINVAL;
    return -1;
  }
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  return ::sendmsg(socket, &msg, MSG_NOSIGNAL);
}

ssize_t recv_with_fds(int socket, std::span<char> buffer, std::vector<UniqueFd>& fds) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)];
  iovec iov{buffer.data(), buffer.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    errno = EMSGSIZE;
    return -1;
  }
  return n;
}

bool place_fds(std::span<const int> fds, std::span<const int> targets) {
  if (fds.size() != targets.size() || fds.size() > kMaxPlacedFds) {
    errno = EINVAL;
    return false;
  }
  int above = 0;
  for (int t : targets) above = t >= above ? t + 1 : above;
  int high[kMaxPlacedFds];
  size_t made = 0;
  bool ok = true;
  for (; ok && made < fds.size(); ++made) {
    high[made] = fds[made] >= 0 ? ::fcntl(fds[made], F_DUPFD_CLOEXEC, above) : -1;
    ok = fds[made] < 0 || high[made] >= 0;
  }
  for (size_t i = 0; ok && i < fds.size(); ++i) {
    if (high[i] >= 0)
      ok = ::dup2(high[i], targets[i]) >= 0;
    else
      ::close(targets[i]);
  }
  const int saved = errno;
  for (size_t i = 0; i < made; ++i)
    if (high[i] >= 0) ::close(high[i]);
  errno = saved;
  return ok;
}

}  // namespace thaw
