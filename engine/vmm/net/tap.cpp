#include "engine/vmm/net/tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include <cerrno>

#include "base/error.h"

namespace thaw::vmm {

UniqueFd open_tap(const std::string& name) {
  ifreq req{};
  interface_name_into(name, req.ifr_name);
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) throw_errno("open", "/dev/net/tun (load the tun module: modprobe tun)");
    throw_errno("open", "/dev/net/tun");
  }
  req.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (::ioctl(fd.get(), TUNSETIFF, &req) != 0) throw_errno("ioctl(TUNSETIFF)", name);
  return fd;
}

}  // namespace thaw::vmm
