#include "engine/vmm/net/mac_address.h"

#include <cstdio>

#include "base/error.h"

namespace thaw::vmm {

MacAddress parse_mac(std::string_view text) {
  MacAddress mac{};
  unsigned b[6];
  char tail;
  std::string s(text);
  if (std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6 ||
      s.size() != 17)
    throw Error("'" + s + "' is not a MAC address (expected six hex bytes, e.g. 02:fc:00:00:00:02)");
  for (int i = 0; i < 6; ++i) mac[static_cast<size_t>(i)] = static_cast<uint8_t>(b[i]);
  return mac;
}

std::string format_mac(const MacAddress& mac) {
  char out[18];
  std::snprintf(out, sizeof out, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return out;
}

}  // namespace thaw::vmm
