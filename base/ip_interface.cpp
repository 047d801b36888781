#include "base/ip_interface.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/error.h"
#include "base/unique_fd.h"

namespace thaw {
namespace {

static_assert(IFNAMSIZ == 16);

ifreq request_for(const std::string& name) {
  ifreq req{};
  interface_name_into(name, req.ifr_name);
  return req;
}

UniqueFd inet_socket(const std::string& what) {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) throw_errno("socket(AF_INET)", what);
  return s;
}

sockaddr_in inet_address(uint32_t network_order) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = network_order;
  return a;
}

}  // namespace

void interface_name_into(const std::string& name, std::span<char, 16> out) {
  if (name.empty() || name.size() >= out.size())
    throw Error("network interface name '" + name + "' must be 1.." + std::to_string(out.size() - 1) + " characters");
  std::fill(out.begin(), out.end(), '\0');
  std::copy(name.begin(), name.end(), out.begin());
}

uint32_t parse_ipv4(std::string_view text) {
  in_addr a{};
  if (::inet_pton(AF_INET, std::string(text).c_str(), &a) != 1)
    throw Error("'" + std::string(text) + "' is not an IPv4 address");
  return a.s_addr;
}

sockaddr_in ipv4_endpoint(std::string_view address, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = parse_ipv4(address);
  return a;
}

void set_interface_address(const std::string& name, std::string_view address, unsigned prefix) {
  if (prefix > 32) throw Error("IPv4 prefix /" + std::to_string(prefix) + " is longer than 32");
  UniqueFd s = inet_socket(name);
  ifreq req = request_for(name);
  sockaddr_in a = inet_address(parse_ipv4(address));
  std::memcpy(&req.ifr_addr, &a, sizeof a);
  if (::ioctl(s.get(), SIOCSIFADDR, &req) != 0) throw_errno("ioctl(SIOCSIFADDR)", name + " " + std::string(address));
  req = request_for(name);
  a = inet_address(prefix == 0 ? 0 : htonl(~uint32_t{0} << (32 - prefix)));
  std::memcpy(&req.ifr_netmask, &a, sizeof a);
  if (::ioctl(s.get(), SIOCSIFNETMASK, &req) != 0) throw_errno("ioctl(SIOCSIFNETMASK)", name);
  set_interface_up(name);
}

void set_interface_up(const std::string& name) {
  UniqueFd s = inet_socket(name);
  ifreq req = request_for(name);
  if (::ioctl(s.get(), SIOCGIFFLAGS, &req) != 0) throw_errno("ioctl(SIOCGIFFLAGS)", name);
  req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP);
  if (::ioctl(s.get(), SIOCSIFFLAGS, &req) != 0) throw_errno("ioctl(SIOCSIFFLAGS)", name);
}

void set_interface_mac(const std::string& name, const std::array<uint8_t, 6>& mac) {
  UniqueFd s = inet_socket(name);
  ifreq req = request_for(name);
  req.ifr_hwaddr.sa_family = 1;  // ARPHRD_ETHER
  std::memcpy(req.ifr_hwaddr.sa_data, mac.data(), mac.size());
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  if (::ioctl(s.get(), SIOCSIFHWADDR, &req) != 0) throw_errno("ioctl(SIOCSIFHWADDR)", name + " " + text);
}

void add_default_route(std::string_view gateway) {
  UniqueFd s = inet_socket("default route");
  rtentry route{};
  sockaddr_in any = inet_address(0), via = inet_address(parse_ipv4(gateway));
  std::memcpy(&route.rt_dst, &any, sizeof any);
  std::memcpy(&route.rt_genmask, &any, sizeof any);
  std::memcpy(&route.rt_gateway, &via, sizeof via);
  route.rt_flags = RTF_UP | RTF_GATEWAY;
  if (::ioctl(s.get(), SIOCADDRT, &route) != 0) throw_errno("ioctl(SIOCADDRT)", "default via " + std::string(gateway));
}

}  // namespace thaw
