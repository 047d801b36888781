#pragma once
// Small helpers shared by the sandbox's files (not part of the engine's API).
#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/sandbox.h"
#include "engine/vmm/vm.h"

namespace thaw::engine::detail {

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

inline std::string error_json(const std::string& type, const std::string& message) {
  return nlohmann::json{{"errorType", type}, {"errorMessage", message}}.dump();
}

inline std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The guest's card on a duplicate of nic.tap_fd, with every sandbox's guest MAC.
vmm::VmNetConfig guest_nic(const SandboxNic& nic);

}  // namespace thaw::engine::detail
