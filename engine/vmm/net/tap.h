#pragma once
// The host end of a guest's network card. A TAP is opened IFF_TAP | IFF_NO_PI and
// non-blocking, so each read or write is one whole Ethernet frame with no extra header: the
// backend VirtioNet expects. It is not persistent: it lives as long as its fd, in the network
// namespace of the process that opened it, which is how every clone of a snapshot gets a TAP
// of the same name (each in its own namespace) and keeps the guest's address.
#include <cstdint>
#include <string>
#include <string_view>

#include "base/ip_interface.h"  // the set-up of a TAP: address, MAC, link up
#include "base/unique_fd.h"
#include "engine/vmm/net/mac_address.h"

namespace thaw::vmm {

// Creates TAP `name` (at most 15 characters) in the caller's network namespace; makes
// /dev/net/tun first where it is missing (see tap.cpp). Throws SystemError (with a hint when
// the tun module cannot be had) or thaw::Error.
UniqueFd open_tap(const std::string& name);

}  // namespace thaw::vmm
