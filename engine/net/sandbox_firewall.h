#pragma once
// What a sandbox's guest may reach, as an nftables ruleset applied inside the sandbox's own
// network namespace (where the guest cannot touch it). Everything the guest sends goes out
// through the namespace's forward hook, so one chain there decides it: replies to what the
// guest opened pass, new flows pass only to an allowed destination, the rest is refused at
// once (TCP reset, ICMP admin-prohibited) so a client fails fast instead of timing out.
// Nothing reaches the guest or the namespace itself unasked. The namespace's uplink is
// masqueraded, so peers see the sandbox's host-range address, never 172.16.0.2.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace thaw::engine::net {

// An IPv4 network and a port (TCP and UDP); port 0 means every port and protocol.
struct AllowedDestination {
  uint32_t address = 0;  // host byte order, the network's first address
  unsigned prefix = 32;
  uint16_t port = 0;

  bool operator==(const AllowedDestination&) const = default;
};

// "10.0.0.5:6379", "10.0.0.0/24", "10.0.0.0/24:5432", "0.0.0.0/0" (anywhere). Host bits
// under the prefix are refused ("10.0.0.5/24" is an error, not silently 10.0.0.0/24).
// Throws thaw::Error naming the bad text.
AllowedDestination parse_allowed_destination(std::string_view text);
// The same text back: "10.0.0.0/24:5432", "/32" and ":0" left out.
std::string format_allowed_destination(const AllowedDestination& d);
// A comma-separated list ("" is none), as a CLI option or a tag value carries it.
std::vector<AllowedDestination> parse_allowed_destinations(std::string_view list);

// The whole `table ip thaw` for a namespace whose guest sits behind `tap` and whose uplink is
// `uplink`: replaces any earlier one in one transaction.
std::string sandbox_ruleset(std::string_view tap, std::string_view uplink, std::span<const AllowedDestination> allow);
// Only the allow-list, for a namespace that already has the table (a pooled one being given
// to a function): flushes the chain and refills it, again in one transaction.
std::string allowed_chain_update(std::span<const AllowedDestination> allow);

// Runs nftables commands in the calling thread's network namespace; throws thaw::Error
// with nft's own message.
void apply_nft(const std::string& commands);

}  // namespace thaw::engine::net
