#include "restore-hooks/host_hooks.h"

#include <sys/random.h>
#include <time.h>

#include <cerrno>
#include <cstdio>

#include "base/error.h"
#include "base/random.h"

namespace thaw::hooks {

std::string new_uuid_v4() {
  std::byte b[16];
  fill_random(b);
  b[6] = (b[6] & std::byte{0x0f}) | std::byte{0x40};
  b[8] = (b[8] & std::byte{0x3f}) | std::byte{0x80};
  char s[37];
  std::snprintf(s, sizeof s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                unsigned(b[0]), unsigned(b[1]), unsigned(b[2]), unsigned(b[3]), unsigned(b[4]), unsigned(b[5]),
                unsigned(b[6]), unsigned(b[7]), unsigned(b[8]), unsigned(b[9]), unsigned(b[10]), unsigned(b[11]),
                unsigned(b[12]), unsigned(b[13]), unsigned(b[14]), unsigned(b[15]));
  return s;
}

std::string log_stream_name(const std::string& version, int64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns / 1'000'000'000);
  tm t{};
  ::gmtime_r(&secs, &t);
  char date[48];
  std::snprintf(date, sizeof date, "%04d/%02d/%02d", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday);
  std::byte b[16];
  fill_random(b);
  std::string hex;
  for (auto x : b) {
    char h[3];
    std::snprintf(h, sizeof h, "%02x", unsigned(x));
    hex += h;
  }
  return std::string(date) + "/[" + version + "]" + hex;
}

AfterRestoreContext make_after_restore_context(const HostHookOptions& options) {
  AfterRestoreContext c;
  if (!options.skip_entropy) {
    c.entropy.resize(options.entropy_bytes);
    fill_random(c.entropy);
  }
  if (!options.skip_vm_generation_id) {
    c.vm_generation_id.resize(16);
    fill_random(c.vm_generation_id);
  }
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  c.wall_clock_ns = int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
  c.sandbox_id = new_uuid_v4();
  c.log_stream_name = log_stream_name(options.function_version, c.wall_clock_ns);
  return c;
}

}  // namespace thaw::hooks
