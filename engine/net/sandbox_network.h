#pragma once
// One sandbox's network, Firecracker's model for clones: a network namespace of its own that
// holds TAP `tap0` (the host end of the guest's card) and `veth0`, the namespace's uplink to
// a veth `thaw-N` on the host. Every namespace numbers its guest side the same way
// (guest_link.h), so every clone of a snapshot finds the address, gateway and gateway MAC it
// was snapshotted with. Only the uplink differs per
// sandbox: slot N of the host range, the host end .1 and veth0 .2, with veth0 masqueraded and
// the namespace's firewall (sandbox_firewall.h) deciding what the guest may reach.
//
// Setting one up takes a few dozen netlink and nft requests (milliseconds): NetworkPool makes
// them ahead so a restore never waits. Destroying one deletes thaw-N (and with it veth0); the
// namespace and the TAP go with the last fd or process that holds them.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/unique_fd.h"
#include "engine/net/guest_link.h"
#include "engine/net/host_range.h"
#include "engine/net/netns.h"
#include "engine/net/sandbox_firewall.h"

namespace thaw::engine::net {

class SandboxNetwork {
 public:
  // Claims the first free slot at or after `first_slot` (wrapping around), sets everything
  // up with the allow-list empty (the guest reaches nothing). Throws SystemError or
  // thaw::Error; nothing is left behind on failure.
  static std::unique_ptr<SandboxNetwork> create(const HostRange& range, size_t first_slot = 0);
  struct Key {
    explicit Key() = default;
  };
  SandboxNetwork(Key, NetNamespace ns, size_t slot, const HostRange& range);
  ~SandboxNetwork();
  SandboxNetwork(const SandboxNetwork&) = delete;
  SandboxNetwork& operator=(const SandboxNetwork&) = delete;

  // Replaces what the guest may reach (one nft transaction in the namespace).
  void allow(std::span<const AllowedDestination> destinations);

  const NetNamespace& netns() const { return netns_; }
  int tap_fd() const { return tap_.get(); }
  // The TAP's fd for the VMM process; the namespace keeps the TAP while the VMM holds it.
  UniqueFd release_tap() { return std::move(tap_); }
  size_t slot() const { return slot_; }
  const std::string& host_link() const { return host_link_; }
  uint32_t host_address() const { return host_address_; }      // host byte order
  uint32_t inside_address() const { return inside_address_; }  // what peers see as the source

 private:
  void set_up_host_end();
  void set_up_inside();

  NetNamespace netns_;
  size_t slot_;
  std::string host_link_;
  uint32_t host_address_, inside_address_;
  unsigned prefix_ = 30;
  bool claimed_ = false;
  UniqueFd tap_;
};

}  // namespace thaw::engine::net
