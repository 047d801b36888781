#pragma once
// The server side of `thaw bench net`'s throughput runs, on its own thread: accepts one
// connection at a time, reads until the client shuts its side down, answers the byte count as
// a line, and records how long the reading took, from the accept to the end of the stream
// (the client's start-up is not in it, so a sandbox's and a host process's runs compare).
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"

namespace thaw::cli {

class TcpSink {
 public:
  struct Run {
    uint64_t bytes = 0;
    double ms = 0;
  };

  TcpSink(const std::string& address, uint16_t port);
  ~TcpSink();
  TcpSink(const TcpSink&) = delete;
  TcpSink& operator=(const TcpSink&) = delete;

  // The runs that ended since the last call, oldest first.
  std::vector<Run> take_runs();

 private:
  void serve();
  void drain(int connection);

  UniqueFd listener_, stop_;
  std::mutex mu_;
  std::vector<Run> runs_;
  std::thread thread_;
};

}  // namespace thaw::cli
