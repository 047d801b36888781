#pragma once
// Runs a host program to completion and captures its stdout: the image builder asks the
// host's busybox for its applet list and the host's python3.11 to precompile bytecode.
#include <string>
#include <vector>

namespace thaw::image {

struct CommandResult {
  int exit_status = -1;  // exit code, or 128 + signal
  std::string out;
};

// Runs argv[0] (a path; no PATH search) with `input` on stdin, stderr inherited.
// Throws SystemError if it cannot be started.
CommandResult run_host_command(const std::vector<std::string>& argv, const std::string& input = {});

}  // namespace thaw::image
