#include "engine/net/sandbox_network.h"

#include <arpa/inet.h>
#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"
#include "base/log.h"
#include "engine/net/rtnetlink.h"
#include "engine/vmm/net/tap.h"

namespace thaw::engine::net {
namespace {

void write_sysctl(const char* path, const char* value) {
  UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", path);
  const size_t n = std::strlen(value);
  if (::write(fd.get(), value, n) != ssize_t(n)) throw_errno("write", path);
}

}  // namespace

SandboxNetwork::SandboxNetwork(Key, NetNamespace ns, size_t slot, const HostRange& range)
    : netns_(std::move(ns)),
      slot_(slot),
      host_link_(range.link_name(slot)),
      host_address_(range.host_address(slot)),
      inside_address_(range.inside_address(slot)) {}

std::unique_ptr<SandboxNetwork> SandboxNetwork::create(const HostRange& range, size_t first_slot) {
  const size_t slots = range.slots();
  if (slots == 0) throw Error("host range /" + std::to_string(range.prefix) + " has no /30 slot");
  if (std::string conflict = host_range_conflict(range); !conflict.empty())
    throw Error("sandbox host range " + ipv4_text(range.base) + "/" + std::to_string(range.prefix) +
                " overlaps this host's network (" + conflict + "); choose a range the host does not use");
  NetNamespace ns = NetNamespace::create();
  RtNetlink host;
  for (size_t i = 0; i < slots; ++i) {
    const size_t slot = (first_slot + i) % slots;
    try {
      host.create_veth(range.link_name(slot), kSandboxUplink, ns.fd());
    } catch (const SystemError& e) {
      if (e.error_number() == EEXIST) continue;
      throw;
    }
    auto net = std::make_unique<SandboxNetwork>(Key{}, std::move(ns), slot, range);
    net->claimed_ = true;  // from here the destructor deletes the pair, also if set-up fails
    net->set_up_host_end();
    net->set_up_inside();
    return net;
  }
  throw Error("no free sandbox network slot in host range " + ipv4_text(range.base) + "/" +
              std::to_string(range.prefix) + ": links " + range.link_name(0) + ".." + range.link_name(slots - 1) +
              " all exist (more sandboxes than the range holds, or links left by another engine)");
}

SandboxNetwork::~SandboxNetwork() {
  if (!claimed_) return;
  try {
    RtNetlink().delete_link(host_link_);
  } catch (const std::exception& e) {
    spdlog::warn("sandbox network {}: {}", host_link_, e.what());
  }
}

void SandboxNetwork::set_up_host_end() { set_interface_address(host_link_, ipv4_text(host_address_), prefix_); }

void SandboxNetwork::set_up_inside() {
  NetnsScope inside(netns_);
  set_interface_up("lo");
  set_interface_address(kSandboxUplink, ipv4_text(inside_address_), prefix_);
  tap_ = vmm::open_tap(kSandboxTap);
  set_interface_mac(kSandboxTap, vmm::parse_mac(kGatewayMac));
  set_interface_address(kSandboxTap, kGatewayAddress, kGuestPrefix);
  add_default_route(ipv4_text(host_address_));
  write_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
  apply_nft(sandbox_ruleset(kSandboxTap, kSandboxUplink, {}));
}

void SandboxNetwork::allow(std::span<const AllowedDestination> destinations) {
  NetnsScope inside(netns_);
  apply_nft(allowed_chain_update(destinations));
}

}  // namespace thaw::engine::net
