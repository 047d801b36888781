#include "base/random.h"

#include <sys/random.h>

#include <cerrno>
#include <vector>

#include "base/error.h"

namespace thaw {

void fill_random(std::span<std::byte> out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("getrandom");
    }
    done += static_cast<size_t>(n);
  }
}

uint64_t random_u64() {
  uint64_t v = 0;
  fill_random(std::as_writable_bytes(std::span(&v, 1)));
  return v;
}

std::string random_hex(size_t bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::vector<std::byte> raw(bytes);
  fill_random(raw);
  std::string s;
  for (auto b : raw) {
    s.push_back(kDigits[unsigned(b) >> 4]);
    s.push_back(kDigits[unsigned(b) & 15]);
  }
  return s;
}

}  // namespace thaw
