#include "base/process_memory.h"

#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>

#include "base/error.h"

namespace thaw {

ProcessMemory process_memory(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/smaps_rollup";
  std::ifstream in(path);
  if (!in) throw_errno("open", path);
  ProcessMemory m;
  bool pss_seen = false;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    uint64_t kib = 0;
    if (!(fields >> key >> kib)) continue;
    uint64_t bytes = kib * 1024;
    if (key == "Rss:") m.rss_bytes = bytes;
    else if (key == "Pss:") m.pss_bytes = bytes, pss_seen = true;
    else if (key == "Shared_Clean:" || key == "Shared_Dirty:") m.shared_bytes += bytes;
    else if (key == "Private_Clean:" || key == "Private_Dirty:") m.private_bytes += bytes;
    else if (key == "Anonymous:") m.anonymous_bytes = bytes;
  }
  if (!pss_seen) throw Error(path + ": no Pss line");
  return m;
}

}  // namespace thaw
