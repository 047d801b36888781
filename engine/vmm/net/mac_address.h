#pragma once
// Ethernet MAC addresses as the guest's card and the host's TAP carry them.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace thaw::vmm {

using MacAddress = std::array<uint8_t, 6>;

// "02:fc:00:00:00:02" -> bytes; throws thaw::Error on anything else.
MacAddress parse_mac(std::string_view text);
std::string format_mac(const MacAddress& mac);

}  // namespace thaw::vmm
