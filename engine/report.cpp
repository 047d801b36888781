#include "engine/report.h"

#include <cmath>
#include <cstdio>

namespace thaw::engine {
namespace {
std::string ms2(double ms) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", ms);
  return buf;
}
}  // namespace

uint64_t billed_ms(double ms) {
  if (!(ms > 0)) return 1;
  auto b = static_cast<uint64_t>(std::ceil(ms - 1e-9));
  return b == 0 ? 1 : b;
}

std::string start_line(const std::string& request_id, const std::string& version) {
  return "START RequestId: " + request_id + " Version: " + version;
}

std::string end_line(const std::string& request_id) { return "END RequestId: " + request_id; }

std::string report_line(const InvocationReport& r) {
  std::string s = "REPORT RequestId: " + r.request_id;
  s += "\tDuration: " + ms2(r.duration_ms) + " ms";
  s += "\tBilled Duration: " + std::to_string(billed_ms(r.duration_ms)) + " ms";
  s += "\tMemory Size: " + std::to_string(r.memory_size_mb) + " MB";
  s += "\tMax Memory Used: " + std::to_string((r.max_memory_used_bytes + (1 << 20) - 1) >> 20) + " MB";
  switch (r.start.kind) {
    case StartInfo::Kind::kCold:
      s += "\tInit Duration: " + ms2(r.start.init_ms) + " ms";
      break;
    case StartInfo::Kind::kRestored:
      s += "\tRestore Duration: " + ms2(r.start.restore_ms) + " ms";
      s += "\tBilled Restore Duration: " + std::to_string(billed_ms(r.start.billed_restore_ms)) + " ms";
      break;
    case StartInfo::Kind::kWarm:
      break;
  }
  if (r.status) s += "\tStatus: " + *r.status;
  return s;
}

std::string init_report_line(double init_ms, bool success) {
  return "INIT_REPORT Init Duration: " + ms2(init_ms) + " ms\tPhase: init\tStatus: " + (success ? "success" : "error");
}

}  // namespace thaw::engine
