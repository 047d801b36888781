#include "engine/net/host_range.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <memory>

#include "base/error.h"
#include "engine/net/sandbox_firewall.h"

namespace thaw::engine::net {

HostRange parse_host_range(std::string_view cidr, std::string link_prefix) {
  auto bad = [&] {
    return Error("host range '" + std::string(cidr) + "' must be an IPv4 network with a prefix of /8../30, like 10.200.0.0/16");
  };
  AllowedDestination d;
  try {
    d = parse_allowed_destination(cidr);
  } catch (const Error&) {
    throw bad();
  }
  if (d.port != 0 || d.prefix < 8 || d.prefix > 30) throw bad();
  HostRange r{d.address, d.prefix, std::move(link_prefix)};
  if (r.link_name(r.slots() - 1).size() >= IFNAMSIZ)
    throw Error("host range '" + std::string(cidr) + "': link names '" + r.link_prefix + "N' would be longer than " +
                std::to_string(IFNAMSIZ - 1) + " characters");
  return r;
}

std::string host_range_conflict(const HostRange& range) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) throw_errno("getifaddrs");
  std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> owned(list, ::freeifaddrs);
  const uint32_t range_mask = ~uint32_t{0} << (32 - range.prefix);
  for (const ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || !a->ifa_netmask) continue;
    if (std::string_view(a->ifa_name).starts_with(range.link_prefix)) continue;
    const uint32_t address = ntohl(reinterpret_cast<const sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr);
    const uint32_t mask = ntohl(reinterpret_cast<const sockaddr_in*>(a->ifa_netmask)->sin_addr.s_addr);
    // Two networks overlap exactly when they agree on the bits of the shorter mask.
    if (((address ^ range.base) & (mask & range_mask)) != 0) continue;
    unsigned bits = 0;
    for (uint32_t m = mask; m & 0x80000000u; m <<= 1) ++bits;
    return std::string(a->ifa_name) + " has " + ipv4_text(address) + "/" + std::to_string(bits);
  }
  return "";
}

std::string ipv4_text(uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

}  // namespace thaw::engine::net
