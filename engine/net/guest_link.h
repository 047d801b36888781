#pragma once
// How the guest's side of every sandbox's network is numbered: the same in every sandbox, so
// every clone of a snapshot finds the address, gateway and gateway MAC it was snapshotted
// with. The sandbox network (sandbox_network.h) numbers its TAP as the gateway; the sandbox
// (engine/sandbox.cpp) gives the guest's card its MAC and tells the agent its address.
namespace thaw::engine::net {

inline constexpr const char* kSandboxTap = "tap0";
inline constexpr const char* kSandboxUplink = "veth0";
inline constexpr const char* kGatewayAddress = "172.16.0.1";
inline constexpr const char* kGuestAddress = "172.16.0.2";
inline constexpr unsigned kGuestPrefix = 30;
inline constexpr const char* kGatewayMac = "02:fc:00:00:00:01";
inline constexpr const char* kGuestMac = "02:fc:00:00:00:02";

}  // namespace thaw::engine::net
