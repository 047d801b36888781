#include "engine/net/sandbox_firewall.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "engine/net/host_range.h"

namespace thaw::engine::net {
namespace {

TEST(AllowedDestination, ParsesEveryForm) {
  struct Case {
    const char* text;
    const char* address;
    unsigned prefix;
    uint16_t port;
  } cases[] = {
      {"10.0.0.5:6379", "10.0.0.5", 32, 6379},
      {"10.0.0.0/24", "10.0.0.0", 24, 0},
      {"10.0.0.0/24:5432", "10.0.0.0", 24, 5432},
      {"0.0.0.0/0", "0.0.0.0", 0, 0},
      {"192.0.2.1", "192.0.2.1", 32, 0},
  };
  for (const Case& c : cases) {
    AllowedDestination d = parse_allowed_destination(c.text);
    EXPECT_EQ(ipv4_text(d.address), c.address) << c.text;
    EXPECT_EQ(d.prefix, c.prefix) << c.text;
    EXPECT_EQ(d.port, c.port) << c.text;
    EXPECT_EQ(format_allowed_destination(d), c.text);
  }
}

TEST(AllowedDestination, RefusesWhatIsNotOne) {
  for (const char* bad : {"", "10.0.0.5:", "10.0.0.5:0", "10.0.0.5:65536", "10.0.0.5/33", "10.0.0.5/24", "10.0.0/24",
                          "example.com:80", "::1", "10.0.0.5:80:81", "10.0.0.0/x"}) {
    EXPECT_THROW(parse_allowed_destination(bad), Error) << bad;
  }
  try {
    parse_allowed_destination("10.0.0.5/24");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("below its prefix"), std::string::npos) << e.what();
  }
}

TEST(AllowedDestination, ListsAreCommaSeparated) {
  auto list = parse_allowed_destinations(" 10.0.0.5:6379, 10.0.1.0/24:5432 ,");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(format_allowed_destination(list[0]), "10.0.0.5:6379");
  EXPECT_EQ(format_allowed_destination(list[1]), "10.0.1.0/24:5432");
  EXPECT_TRUE(parse_allowed_destinations("").empty());
  EXPECT_THROW(parse_allowed_destinations("10.0.0.5:6379,nope"), Error);
}

TEST(SandboxRuleset, RefusesNewFlowsExceptToAllowedDestinations) {
  std::vector<AllowedDestination> allow = {parse_allowed_destination("10.0.0.5:6379"),
                                           parse_allowed_destination("10.0.1.0/24")};
  std::string r = sandbox_ruleset("tap0", "veth0", allow);
  // Replaces an earlier table in the same transaction.
  EXPECT_EQ(r.find("add table ip thaw\ndelete table ip thaw\n"), 0u);
  // The forward chain: replies pass, new flows from the guest to the uplink go through the
  // allow-list, everything else is refused at once.
  auto forward = r.find("chain forward");
  ASSERT_NE(forward, std::string::npos);
  EXPECT_NE(r.find("policy drop;\n    ct state established,related accept", forward), std::string::npos);
  EXPECT_NE(r.find("iifname \"tap0\" oifname \"veth0\" jump allowed\n    meta l4proto tcp reject with tcp reset\n"
                   "    reject with icmp type admin-prohibited",
                   forward),
            std::string::npos);
  // Nothing reaches the namespace itself unasked, and the uplink is masqueraded.
  EXPECT_NE(r.find("chain input {\n    type filter hook input priority filter; policy drop;\n    iifname \"lo\" accept\n"
                   "    ct state established,related accept"),
            std::string::npos);
  EXPECT_NE(r.find("oifname \"veth0\" masquerade"), std::string::npos);
  EXPECT_NE(r.find("add rule ip thaw allowed ip daddr 10.0.0.5/32 meta l4proto { tcp, udp } th dport 6379 accept\n"),
            std::string::npos);
  EXPECT_NE(r.find("add rule ip thaw allowed ip daddr 10.0.1.0/24 accept\n"), std::string::npos);
  EXPECT_EQ(allowed_chain_update({}), "flush chain ip thaw allowed\n");
}

TEST(HostRange, SlotsAreSlash30s) {
  HostRange r = parse_host_range("10.200.0.0/16");
  EXPECT_EQ(r.slots(), 16384u);
  EXPECT_EQ(ipv4_text(r.host_address(0)), "10.200.0.1");
  EXPECT_EQ(ipv4_text(r.inside_address(0)), "10.200.0.2");
  EXPECT_EQ(ipv4_text(r.host_address(16383)), "10.200.255.253");
  EXPECT_EQ(ipv4_text(r.inside_address(1)), "10.200.0.6");
  EXPECT_EQ(r.link_name(7), "thaw-7");
  EXPECT_EQ(parse_host_range("192.0.2.0/30").slots(), 1u);
  for (const char* bad : {"10.200.0.0/31", "10.0.0.0/7", "10.200.0.1/16", "10.200.0.0/16:80", "nope"})
    EXPECT_THROW(parse_host_range(bad), Error) << bad;
  // Link names must fit IFNAMSIZ: a long prefix with many slots is refused up front.
  EXPECT_THROW(parse_host_range("10.0.0.0/8", "thaw-sandbox-"), Error);
}

}  // namespace
}  // namespace thaw::engine::net
