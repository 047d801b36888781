#include "guest/agent/host_link.h"

#include <unistd.h>

#include <cerrno>

#include "base/error.h"

namespace thaw::agent {

HostLink::HostLink(UniqueFd channel) : fd_(std::move(channel)) {}

std::vector<channel::HostMessage> HostLink::read_available() {
  char buf[1 << 16];
  ssize_t n = ::read(fd_.get(), buf, sizeof buf);
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return {};
    throw_errno("read", "host channel");
  }
  if (n == 0) throw Error("host channel closed");
  decoder_.feed(std::string_view(buf, static_cast<size_t>(n)));
  std::vector<channel::HostMessage> out;
  while (auto m = decoder_.next()) out.push_back(channel::decode_host_message(std::move(*m)));
  return out;
}

void HostLink::write_all(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd_.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw_errno("write", "host channel");
    }
    done += static_cast<size_t>(n);
  }
}

}  // namespace thaw::agent
