// thaw::Engine's sandbox networks: one pool per engine, made when the first function with a
// network needs it, and each sandbox's network given its function's allow-list.
#include <spdlog/spdlog.h>

#include "engine/engine_impl.h"
#include "engine/net/sandbox_firewall.h"

namespace thaw {

engine::net::NetworkPool& Engine::Impl::network_pool() {
  std::lock_guard lock(networks_mu);
  if (!networks) {
    networks = std::make_unique<engine::net::NetworkPool>(
        engine::net::NetworkPoolOptions{network_range, options.network.ready});
    spdlog::debug("engine: sandbox networks in {} (links {}N), {} kept ready", options.network.host_range,
                  options.network.link_prefix, options.network.ready);
  }
  return *networks;
}

std::unique_ptr<engine::net::SandboxNetwork> Engine::Impl::network_for(const engine::VersionRecord& v) {
  std::vector<engine::net::AllowedDestination> allow;
  for (const auto& d : v.settings.network_allow) allow.push_back(engine::net::parse_allowed_destination(d));
  auto network = network_pool().take();
  network->allow(allow);
  return network;
}

std::optional<engine::SandboxNic> Engine::Impl::nic_for(const engine::VersionRecord& v) const {
  if (!has_network(v)) return std::nullopt;
  return engine::SandboxNic{.tap_fd = -1,
                            .tx_limit = {options.network.tx_bytes_per_second, options.network.tx_burst_bytes}};
}

}  // namespace thaw
