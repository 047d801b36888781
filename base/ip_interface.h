#pragma once
// IPv4 set-up of a network interface by ioctl, in the calling thread's network namespace:
// what both ends of a sandbox's link need, the engine for its TAPs and veths, the guest agent
// for the guest's eth0. (Links of kinds that ioctls cannot make are rtnetlink's,
// engine/net/rtnetlink.h.)
#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace thaw {

// Dotted IPv4 text -> address in network byte order; throws thaw::Error on anything else.
uint32_t parse_ipv4(std::string_view text);
// The socket address of `address` (dotted text) and `port`, for bind and connect.
sockaddr_in ipv4_endpoint(std::string_view address, uint16_t port);

// Gives interface `name` (at most 15 characters) the IPv4 address/prefix and brings it up.
// Throws SystemError naming the ioctl and the interface.
void set_interface_address(const std::string& name, std::string_view address, unsigned prefix);
void set_interface_up(const std::string& name);
// Sets the interface's Ethernet address.
void set_interface_mac(const std::string& name, const std::array<uint8_t, 6>& mac);
// Copies `name` into an ifreq's name field (IFNAMSIZ bytes, NUL-terminated); throws
// thaw::Error for an empty name or one over 15 characters.
void interface_name_into(const std::string& name, std::span<char, 16> out);
// The default IPv4 route via `gateway` (dotted text), which must be on a network of an
// interface that is up. EEXIST when there is one already.
void add_default_route(std::string_view gateway);

}  // namespace thaw
