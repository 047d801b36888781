#pragma once
// The agent's end of the host-guest channel (/dev/hvc0): reads frames into typed host messages
// and sends the agent's typed messages as frames (channel/messages.h defines both).
#include <cstdint>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "channel/messages.h"

namespace thaw::agent {

class HostLink {
 public:
  explicit HostLink(UniqueFd channel);
  int fd() const { return fd_.get(); }

  // Reads what the channel has now and returns the complete messages. Throws ProtocolError on a
  // malformed frame or message, SystemError on a read error; an end of stream is a thaw::Error.
  std::vector<channel::HostMessage> read_available();

  template <class T>
  void send(T message) {
    auto frame = channel::to_frame(std::move(message));
    frame.sequence = ++sequence_;
    write_all(channel::encode(frame));
  }

 private:
  void write_all(const std::string& bytes);
  UniqueFd fd_;
  uint32_t sequence_ = 0;
  channel::Decoder decoder_;
};

}  // namespace thaw::agent
