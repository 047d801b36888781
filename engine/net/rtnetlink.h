#pragma once
// The few rtnetlink requests a sandbox's network needs that ioctls cannot make: a veth pair
// whose peer is born inside another namespace, deleting a link. Each request
// asks for an ACK, so a failure comes back as the kernel's errno on that request.
#include <cstdint>
#include <string>

#include "base/unique_fd.h"

namespace thaw::engine::net {

class RtNetlink {
 public:
  // A NETLINK_ROUTE socket in the calling thread's network namespace: requests act there.
  RtNetlink();

  // veth `name` here, its peer `peer` in the namespace `peer_netns_fd`, in one RTM_NEWLINK
  // (the peer never exists in this namespace, so its name cannot clash with one here). Throws
  // SystemError; EEXIST when `name` is taken, which is how a host-wide slot is claimed.
  void create_veth(const std::string& name, const std::string& peer, int peer_netns_fd);
  // False when there is no such link (ENODEV); deleting one end of a veth deletes both.
  bool delete_link(const std::string& name);

 private:
  class Message;
  void transact(Message& msg, const std::string& what);

  UniqueFd fd_;
  uint32_t seq_ = 0;
};

}  // namespace thaw::engine::net
