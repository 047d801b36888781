#include "engine/vmm/net/tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>

#include "base/error.h"

namespace thaw::vmm {
namespace {

constexpr const char* kTunDevice = "/dev/net/tun";

// Makes /dev/net/tun (char 10:200) where nothing made the static device nodes at boot (no
// udev or systemd: a container, a minimal host), as kmod's static-nodes would: opening the
// node has the kernel load tun on demand. Quietly nothing where it cannot (not root).
void make_tun_node() {
  ::mkdir("/dev/net", 0755);
  ::mknod(kTunDevice, S_IFCHR | 0666, makedev(10, 200));
}

UniqueFd open_tun() { return UniqueFd(::open(kTunDevice, O_RDWR | O_NONBLOCK | O_CLOEXEC)); }

}  // namespace

UniqueFd open_tap(const std::string& name) {
  ifreq req{};
  interface_name_into(name, req.ifr_name);
  UniqueFd fd = open_tun();
  if (!fd && errno == ENOENT) {
    make_tun_node();
    fd = open_tun();
  }
  if (!fd) {
    if (errno == ENOENT || errno == ENODEV) throw_errno("open", std::string(kTunDevice) + " (load the tun module: modprobe tun)");
    throw_errno("open", kTunDevice);
  }
  req.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (::ioctl(fd.get(), TUNSETIFF, &req) != 0) throw_errno("ioctl(TUNSETIFF)", name);
  return fd;
}

}  // namespace thaw::vmm
