#include "engine/vmm/net/tap.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"

namespace thaw::vmm {
namespace {

ifreq request_for(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    throw Error("network interface name '" + name + "' must be 1.." + std::to_string(IFNAMSIZ - 1) + " characters");
  ifreq req{};
  std::memcpy(req.ifr_name, name.data(), name.size());
  return req;
}

UniqueFd inet_socket(const std::string& what) {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) throw_errno("socket(AF_INET)", what);
  return s;
}

}  // namespace

uint32_t parse_ipv4(std::string_view text) {
  in_addr a{};
  if (::inet_pton(AF_INET, std::string(text).c_str(), &a) != 1)
    throw Error("'" + std::string(text) + "' is not an IPv4 address");
  return a.s_addr;
}

UniqueFd open_tap(const std::string& name) {
  ifreq req = request_for(name);
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) throw_errno("open", "/dev/net/tun (load the tun module: modprobe tun)");
    throw_errno("open", "/dev/net/tun");
  }
  req.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (::ioctl(fd.get(), TUNSETIFF, &req) != 0) throw_errno("ioctl(TUNSETIFF)", name);
  return fd;
}

void set_interface_address(const std::string& name, std::string_view address, unsigned prefix) {
  if (prefix > 32) throw Error("IPv4 prefix /" + std::to_string(prefix) + " is longer than 32");
  UniqueFd s = inet_socket(name);
  ifreq req = request_for(name);
  auto* sin = reinterpret_cast<sockaddr_in*>(&req.ifr_addr);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = parse_ipv4(address);
  if (::ioctl(s.get(), SIOCSIFADDR, &req) != 0) throw_errno("ioctl(SIOCSIFADDR)", name + " " + std::string(address));
  req = request_for(name);
  sin = reinterpret_cast<sockaddr_in*>(&req.ifr_netmask);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = prefix == 0 ? 0 : htonl(~uint32_t{0} << (32 - prefix));
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

void set_interface_mac(const std::string& name, const MacAddress& mac) {
  UniqueFd s = inet_socket(name);
  ifreq req = request_for(name);
  req.ifr_hwaddr.sa_family = 1;  // ARPHRD_ETHER
  std::memcpy(req.ifr_hwaddr.sa_data, mac.data(), mac.size());
  if (::ioctl(s.get(), SIOCSIFHWADDR, &req) != 0) throw_errno("ioctl(SIOCSIFHWADDR)", name + " " + format_mac(mac));
}

}  // namespace thaw::vmm
