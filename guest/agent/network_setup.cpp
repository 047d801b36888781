#include "guest/agent/network_setup.h"

#include <net/if.h>

#include "base/error.h"
#include "base/ip_interface.h"
#include "guest/agent/system_setup.h"

namespace thaw::agent {
namespace {

constexpr const char* kInterface = "eth0";

}  // namespace

void bring_up_network(const std::string& address, uint32_t prefix, const std::string& gateway) {
  auto failed = load_modules(read_module_list("/etc/thaw/net-modules"));
  if (!failed.empty()) throw Error("the network card's driver did not load: " + failed.front());
  // virtio probes its devices while the driver's module loads, so eth0 exists by now.
  if (::if_nametoindex(kInterface) == 0)
    throw Error(std::string("the sandbox has a network card but no ") + kInterface +
                " appeared (is virtio_net in the image's /etc/thaw/net-modules?)");
  set_interface_address(kInterface, address, prefix);
  add_default_route(gateway);
}

}  // namespace thaw::agent
