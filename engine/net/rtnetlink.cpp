#include "engine/net/rtnetlink.h"

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace thaw::engine::net {

// One request: nlmsghdr, the family's header, then attributes, nested ones by offset (the
// buffer grows, so no pointers into it are kept).
class RtNetlink::Message {
 public:
  Message(uint16_t type, uint16_t flags) : buf_(NLMSG_HDRLEN) {
    auto* h = header();
    h->nlmsg_type = type;
    h->nlmsg_flags = static_cast<uint16_t>(flags | NLM_F_REQUEST | NLM_F_ACK);
  }

  void put_raw(const void* data, size_t len) {
    size_t at = buf_.size();
    buf_.resize(at + NLMSG_ALIGN(len));
    std::memcpy(buf_.data() + at, data, len);
  }
  void put(uint16_t type, const void* data, size_t len) {
    rtattr a{};
    a.rta_type = type;
    a.rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
    size_t at = buf_.size();
    buf_.resize(at + RTA_SPACE(len));
    std::memcpy(buf_.data() + at, &a, sizeof a);
    if (len) std::memcpy(buf_.data() + at + RTA_LENGTH(0), data, len);  // a nest's header has no data
  }
  void put_string(uint16_t type, std::string_view s) {
    std::string z(s);
    put(type, z.c_str(), z.size() + 1);
  }
  void put_u32(uint16_t type, uint32_t v) { put(type, &v, sizeof v); }
  size_t begin_nested(uint16_t type) {
    size_t at = buf_.size();
    put(type, nullptr, 0);
    return at;
  }
  void end_nested(size_t at) {
    rtattr a;
    std::memcpy(&a, buf_.data() + at, sizeof a);
    a.rta_len = static_cast<uint16_t>(buf_.size() - at);
    std::memcpy(buf_.data() + at, &a, sizeof a);
  }

  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  std::vector<char>& finish(uint32_t seq) {
    header()->nlmsg_len = static_cast<uint32_t>(buf_.size());
    header()->nlmsg_seq = seq;
    return buf_;
  }

 private:
  std::vector<char> buf_;
};

RtNetlink::RtNetlink() : fd_(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) {
  if (!fd_) throw_errno("socket(AF_NETLINK, NETLINK_ROUTE)");
}

void RtNetlink::transact(Message& msg, const std::string& what) {
  const uint32_t seq = ++seq_;
  std::vector<char>& out = msg.finish(seq);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd_.get(), out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    throw_errno("sendto(NETLINK_ROUTE)", what);
  std::array<char, 8192> in;
  for (;;) {
    ssize_t n = ::recv(fd_.get(), in.data(), in.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("recv(NETLINK_ROUTE)", what);
    }
    const size_t got = static_cast<size_t>(n);
    for (size_t at = 0; at + sizeof(nlmsghdr) <= got;) {
      nlmsghdr h;
      std::memcpy(&h, in.data() + at, sizeof h);
      if (h.nlmsg_len < sizeof h || at + h.nlmsg_len > got) throw Error("malformed netlink reply to " + what);
      const size_t here = at;
      at += NLMSG_ALIGN(h.nlmsg_len);
      if (h.nlmsg_seq != seq || h.nlmsg_type != NLMSG_ERROR) continue;
      if (h.nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) throw Error("short netlink ACK for " + what);
      nlmsgerr err;
      std::memcpy(&err, in.data() + here + NLMSG_HDRLEN, sizeof err);
      if (err.error != 0) throw_error_number(-err.error, "rtnetlink", what);
      return;
    }
  }
}

void RtNetlink::create_veth(const std::string& name, const std::string& peer, int peer_netns_fd) {
  Message m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  m.put_raw(&info, sizeof info);
  m.put_string(IFLA_IFNAME, name);
  size_t linkinfo = m.begin_nested(IFLA_LINKINFO);
  m.put_string(IFLA_INFO_KIND, "veth");
  size_t data = m.begin_nested(IFLA_INFO_DATA);
  size_t peer_info = m.begin_nested(VETH_INFO_PEER);
  m.put_raw(&info, sizeof info);
  m.put_string(IFLA_IFNAME, peer);
  m.put_u32(IFLA_NET_NS_FD, static_cast<uint32_t>(peer_netns_fd));
  m.end_nested(peer_info);
  m.end_nested(data);
  m.end_nested(linkinfo);
  transact(m, "create veth " + name + " <-> " + peer);
}

bool RtNetlink::delete_link(const std::string& name) {
  Message m(RTM_DELLINK, 0);
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  m.put_raw(&info, sizeof info);
  m.put_string(IFLA_IFNAME, name);
  try {
    transact(m, "delete link " + name);
  } catch (const SystemError& e) {
    if (e.error_number() == ENODEV) return false;
    throw;
  }
  return true;
}

}  // namespace thaw::engine::net
