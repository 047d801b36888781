#pragma once
// The guest's network card, set up when the host's Config gives it an address: the driver's
// modules (the image lists them in /etc/thaw/net-modules) loaded, then eth0 numbered and the
// default route set, by ioctl (Debian's kernel has no IP autoconfiguration to do it). A
// restored clone keeps all of this: its card comes back with the MAC and the guest with the
// address it was snapshotted with.
#include <cstdint>
#include <string>

namespace thaw::agent {

// Throws thaw::Error saying what is missing (a module, the interface) or SystemError.
void bring_up_network(const std::string& address, uint32_t prefix, const std::string& gateway);

}  // namespace thaw::agent
