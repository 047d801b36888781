#include "engine/net/sandbox_firewall.h"

#include <arpa/inet.h>
#include <nftables/libnftables.h>

#include <charconv>
#include <memory>

#include "base/error.h"
#include "engine/net/host_range.h"

namespace thaw::engine::net {
namespace {

template <class T>
bool parse_number(std::string_view s, T& out, T max) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && out <= max;
}

std::string allowed_rules(std::span<const AllowedDestination> allow) {
  std::string out;
  for (const AllowedDestination& d : allow) {
    std::string net = ipv4_text(d.address) + "/" + std::to_string(d.prefix);
    out += "add rule ip thaw allowed ip daddr " + net;
    if (d.port != 0) out += " meta l4proto { tcp, udp } th dport " + std::to_string(d.port);
    out += " accept\n";
  }
  return out;
}

}  // namespace

AllowedDestination parse_allowed_destination(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Error("allowed destination '" + std::string(text) + "': " + std::string(why) +
                 " (expected ADDRESS[/PREFIX][:PORT], like 10.0.0.5:6379 or 10.0.0.0/24)");
  };
  AllowedDestination d;
  std::string_view rest = text;
  if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    if (!parse_number<uint16_t>(rest.substr(colon + 1), d.port, 65535) || d.port == 0) throw bad("bad port");
    rest = rest.substr(0, colon);
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (!parse_number<unsigned>(rest.substr(slash + 1), d.prefix, 32)) throw bad("bad prefix");
    rest = rest.substr(0, slash);
  }
  in_addr a{};
  if (::inet_pton(AF_INET, std::string(rest).c_str(), &a) != 1) throw bad("not an IPv4 address");
  d.address = ntohl(a.s_addr);
  uint32_t mask = d.prefix == 0 ? 0 : ~uint32_t{0} << (32 - d.prefix);
  if ((d.address & ~mask) != 0) throw bad("address has bits set below its prefix");
  return d;
}

std::string format_allowed_destination(const AllowedDestination& d) {
  std::string out = ipv4_text(d.address);
  if (d.prefix != 32) out += "/" + std::to_string(d.prefix);
  if (d.port != 0) out += ":" + std::to_string(d.port);
  return out;
}

std::vector<AllowedDestination> parse_allowed_destinations(std::string_view list) {
  std::vector<AllowedDestination> out;
  while (!list.empty()) {
    auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.push_back(parse_allowed_destination(item));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

std::string sandbox_ruleset(std::string_view tap, std::string_view uplink, std::span<const AllowedDestination> allow) {
  const std::string t(tap), u(uplink);
  // "add table" then "delete table" makes the replacement work whether or not one exists.
  std::string out =
      "add table ip thaw\n"
      "delete table ip thaw\n"
      "table ip thaw {\n"
      "  chain allowed {\n"
      "  }\n"
      "  chain forward {\n"
      "    type filter hook forward priority filter; policy drop;\n"
      "    ct state established,related accept\n"
      "    ct state invalid drop\n"
      "    iifname \"" + t + "\" oifname \"" + u + "\" jump allowed\n"
      "    meta l4proto tcp reject with tcp reset\n"
      "    reject with icmp type admin-prohibited\n"
      "  }\n"
      "  chain input {\n"
      "    type filter hook input priority filter; policy drop;\n"
      "    iifname \"lo\" accept\n"
      "    ct state established,related accept\n"
      "    ct state invalid drop\n"
      "    meta l4proto tcp reject with tcp reset\n"
      "    reject with icmp type admin-prohibited\n"
      "  }\n"
      "  chain postrouting {\n"
      "    type nat hook postrouting priority srcnat; policy accept;\n"
      "    oifname \"" + u + "\" masquerade\n"
      "  }\n"
      "}\n";
  return out + allowed_rules(allow);
}

std::string allowed_chain_update(std::span<const AllowedDestination> allow) {
  return "flush chain ip thaw allowed\n" + allowed_rules(allow);
}

void apply_nft(const std::string& commands) {
  std::unique_ptr<nft_ctx, void (*)(nft_ctx*)> ctx(nft_ctx_new(NFT_CTX_DEFAULT), nft_ctx_free);
  if (!ctx) throw Error("nftables: cannot make a context (nft_ctx_new)");
  nft_ctx_buffer_output(ctx.get());
  nft_ctx_buffer_error(ctx.get());
  if (nft_run_cmd_from_buffer(ctx.get(), commands.c_str()) != 0) {
    const char* err = nft_ctx_get_error_buffer(ctx.get());
    throw Error("nftables refused the sandbox's ruleset: " + std::string(err ? err : "(no message)"));
  }
}

}  // namespace thaw::engine::net
