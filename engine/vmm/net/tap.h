#pragma once
// The host end of a guest's network card. A TAP is opened IFF_TAP | IFF_NO_PI and
// non-blocking, so each read or write is one whole Ethernet frame with no extra header: the
// backend VirtioNet expects. It is not persistent: it lives as long as its fd, in the network
// namespace of the process that opened it, which is how every clone of a snapshot gets a TAP
// of the same name (each in its own namespace) and keeps the guest's address.
#include <cstdint>
#include <string>
#include <string_view>

#include "base/unique_fd.h"
#include "engine/vmm/net/mac_address.h"

namespace thaw::vmm {

// Creates TAP `name` (at most 15 characters) in the caller's network namespace. Throws
// SystemError (with a hint when /dev/net/tun is missing: the tun module) or thaw::Error.
UniqueFd open_tap(const std::string& name);

// Gives interface `name` the IPv4 address/prefix and brings it up, in the caller's namespace.
void set_interface_address(const std::string& name, std::string_view address, unsigned prefix);
void set_interface_up(const std::string& name);
// Sets the interface's own MAC. Every clone's TAP gets the same one, so the gateway entry in
// a restored guest's ARP cache still names its host end.
void set_interface_mac(const std::string& name, const MacAddress& mac);

// Dotted IPv4 text -> address in network byte order; throws thaw::Error on anything else.
uint32_t parse_ipv4(std::string_view text);

}  // namespace thaw::vmm
