#include "guest/agent/log_relay.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>

namespace thaw::agent {

namespace {

constexpr std::size_t kFrameHeaderBytes = 16;
constexpr std::size_t kMaxLineBytes = 256 * 1024;

uint32_t be32(const std::string& s, std::size_t at) {
  uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

// Reads what the pipe has into `into`; false at end of stream (or a read error).
bool read_some(int fd, std::string& into) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  into.append(buf, static_cast<std::size_t>(n));
  return true;
}

}  // namespace

bool LineRelay::pump(int fd) {
  std::string bytes;
  bool open = read_some(fd, bytes);
  feed(bytes, !open);
  return open;
}

void LineRelay::feed(std::string_view bytes, bool final) {
  pending_.append(bytes);
  std::size_t start = 0, nl;
  while ((nl = pending_.find('\n', start)) != std::string::npos) {
    link_.send(channel::Log{is_stderr_, pending_.substr(start, nl - start)});
    start = nl + 1;
  }
  pending_.erase(0, start);
  if ((final && !pending_.empty()) || pending_.size() > kMaxLineBytes) {
    link_.send(channel::Log{is_stderr_, pending_});
    pending_.clear();
  }
}

bool FrameRelay::pump(int fd) {
  std::string bytes;
  bool open = read_some(fd, bytes);
  if (broken_) {
    fallback_.feed(bytes, !open);
    return open;
  }
  pending_.append(bytes);
  send_frames();
  if (!open && !pending_.empty()) {
    link_.send(channel::Log{false, "thaw-agent: the runtime's log ended inside a frame; its last " +
                                       std::to_string(pending_.size()) + " bytes follow as text"});
    fallback_.feed(pending_, true);
    pending_.clear();
  }
  return open;
}

void FrameRelay::send_frames() {
  while (pending_.size() >= kFrameHeaderBytes) {
    uint32_t type = be32(pending_, 0), length = be32(pending_, 4);
    if ((type & 0xFFFF0000u) != 0xA55A0000u || length > kMaxFrameBytes) {
      char why[160];
      std::snprintf(why, sizeof why,
                    "thaw-agent: the runtime's log has a bad frame (type 0x%08x, %u bytes); the rest is read as lines",
                    type, length);
      link_.send(channel::Log{false, why});
      broken_ = true;
      fallback_.feed(pending_, false);
      pending_.clear();
      return;
    }
    if (pending_.size() < kFrameHeaderBytes + length) return;
    std::string message = pending_.substr(kFrameHeaderBytes, length);
    if (!message.empty() && message.back() == '\n') message.pop_back();
    link_.send(channel::Log{false, std::move(message)});
    pending_.erase(0, kFrameHeaderBytes + length);
  }
}

RuntimeOutput::RuntimeOutput(HostLink& link, const RuntimeProcess& runtime)
    : runtime_(runtime), out_(link, false), err_(link, true), telemetry_(link) {}

void RuntimeOutput::add_pollfds(std::vector<pollfd>& fds) const {
  if (out_open_) fds.push_back({runtime_.stdout_fd(), POLLIN, 0});
  if (err_open_) fds.push_back({runtime_.stderr_fd(), POLLIN, 0});
  if (telemetry_open_) fds.push_back({runtime_.telemetry_fd(), POLLIN, 0});
}

void RuntimeOutput::pump(std::span<const pollfd> added) {
  std::size_t i = 0;
  auto ready = [&] { return i < added.size() && added[i++].revents != 0; };
  if (out_open_ && ready()) out_open_ = out_.pump(runtime_.stdout_fd());
  if (err_open_ && ready()) err_open_ = err_.pump(runtime_.stderr_fd());
  if (telemetry_open_ && ready()) telemetry_open_ = telemetry_.pump(runtime_.telemetry_fd());
}

}  // namespace thaw::agent
