#pragma once
// Descriptors sent over a Unix stream socket with bytes (SCM_RIGHTS). On a stream the
// descriptors travel with the first byte of the send that carried them: a receiver that reads
// every byte with recv_with_fds gets them no later than that byte. And descriptors put at the
// numbers a process expects them at, as a child inherits them or a receiver installs them.
#include <sys/types.h>

#include <span>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"

namespace thaw {

inline constexpr size_t kMaxPassedFds = 16;

// sendmsg(2) of `bytes` (some of them, as send(2) may) with `fds` (at most kMaxPassedFds)
// attached. Returns what sendmsg returns (-1 with errno set); never raises SIGPIPE.
ssize_t send_with_fds(int socket, std::string_view bytes, std::span<const int> fds);

// recvmsg(2) into `buffer`; descriptors that came with these bytes are appended to `fds`
// (close-on-exec). Returns what recvmsg returns (-1 with errno set). Descriptors beyond
// kMaxPassedFds in one message are closed by the kernel (MSG_CTRUNC) and reported as EMSGSIZE.
ssize_t recv_with_fds(int socket, std::span<char> buffer, std::vector<UniqueFd>& fds);

inline constexpr size_t kMaxPlacedFds = 8;

// Puts a copy of each fds[i] at descriptor number targets[i] (fds[i] == -1: targets[i] is closed
// instead). It goes by way of numbers above every target, so that no copy overwrites a
// descriptor still to be moved. The copies at the targets are kept across exec (no FD_CLOEXEC);
// the originals stay open. Async-signal-safe, for a forked child before exec: it allocates
// nothing, and takes at most kMaxPlacedFds. Returns false with errno set when a call fails.
bool place_fds(std::span<const int> fds, std::span<const int> targets);

}  // namespace thaw
