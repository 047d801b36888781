#pragma once
// The runtime's output, forwarded to the host as log messages (channel::Log), one message per
// log event: stdout and stderr line by line, and the telemetry pipe (RuntimeProcess's
// descriptor 3) one frame per message, so that a record of several lines (a traceback, a
// multi-line print) stays one event and two records never run together. A frame is AWS's:
//   type (4 bytes, 0xA55A....) | length (4) | timestamp, µs (8) | message
// big-endian. A frame that breaks that format (bad type, a length over kMaxFrameBytes) ends
// the framing: the agent says so on the log and reads the rest of the pipe as lines.
#include <poll.h>

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "guest/agent/host_link.h"
#include "guest/agent/runtime_process.h"

namespace thaw::agent {

inline constexpr std::size_t kMaxFrameBytes = 4u << 20;

// Forwards a pipe line by line; a line of over 256 KiB goes out in pieces.
class LineRelay {
 public:
  LineRelay(HostLink& link, bool is_stderr) : link_(link), is_stderr_(is_stderr) {}
  // Returns false at end of stream.
  bool pump(int fd);
  // Sends `bytes` as lines; with `final`, also what is left without a line end.
  void feed(std::string_view bytes, bool final);

 private:
  HostLink& link_;
  bool is_stderr_;
  std::string pending_;
};

// Forwards a pipe of frames, one log message per frame (its message less one trailing newline).
class FrameRelay {
 public:
  explicit FrameRelay(HostLink& link) : link_(link), fallback_(link, false) {}
  bool pump(int fd);

 private:
  void send_frames();
  HostLink& link_;
  std::string pending_;
  bool broken_ = false;
  LineRelay fallback_;
};

// The three pipes of a RuntimeProcess, in one poll loop with the agent's other descriptors.
class RuntimeOutput {
 public:
  RuntimeOutput(HostLink& link, const RuntimeProcess& runtime);
  // Appends a pollfd for each pipe still open; pump() takes those entries back in that order.
  void add_pollfds(std::vector<pollfd>& fds) const;
  void pump(std::span<const pollfd> added);
  bool open() const { return out_open_ || err_open_ || telemetry_open_; }

 private:
  const RuntimeProcess& runtime_;
  LineRelay out_, err_;
  FrameRelay telemetry_;
  bool out_open_ = true, err_open_ = true, telemetry_open_ = true;
};

}  // namespace thaw::agent
