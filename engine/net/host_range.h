#pragma once
// The host-side addresses of sandboxes' uplinks: a range cut into /30 slots, one per sandbox
// (network, host end .1, namespace end .2, broadcast). A slot is claimed host-wide by the
// kernel itself: creating the host end, link `<link_prefix><slot>`, fails with EEXIST when
// any process on the host holds that slot, so engines sharing a host need no other lock.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace thaw::engine::net {

struct HostRange {
  uint32_t base = 0x0ac80000;  // 10.200.0.0, host byte order
  unsigned prefix = 16;
  std::string link_prefix = "thaw-";

  size_t slots() const { return prefix > 30 ? 0 : size_t{1} << (30 - prefix); }
  uint32_t host_address(size_t slot) const { return base + 4 * static_cast<uint32_t>(slot) + 1; }
  uint32_t inside_address(size_t slot) const { return base + 4 * static_cast<uint32_t>(slot) + 2; }
  std::string link_name(size_t slot) const { return link_prefix + std::to_string(slot); }
};

// "10.200.0.0/16" (prefix 8..30; no host bits set); throws thaw::Error.
HostRange parse_host_range(std::string_view cidr, std::string link_prefix = "thaw-");
// What on this host already uses addresses of `range`: "" when nothing does, else a line
// naming the interface and its network. Sandbox uplinks of this range (links starting with
// its link prefix) do not count. Using a range that the host's own network is in would
// shadow the host's routes to it, so sandboxes refuse one.
std::string host_range_conflict(const HostRange& range);
// Dotted text of a host-byte-order address.
std::string ipv4_text(uint32_t host_order);

}  // namespace thaw::engine::net
