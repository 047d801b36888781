#pragma once
// The example functions' images (scripts/build-test-images.sh puts them in BUILD/test-images)
// and a log collector for the engine's kvm tests.
#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sandbox.h"

namespace thaw::engine {

inline std::string image(const std::string& name) {
  auto dir = std::string(THAW_BINARY_DIR) + "/test-images/" + name;
  if (!std::filesystem::exists(dir + "/config.json"))
    ADD_FAILURE() << dir << " is missing: run scripts/build-test-images.sh first";
  return dir;
}

struct Logs {
  std::mutex mu;
  std::vector<std::string> lines;
  SandboxOptions options() {
    SandboxOptions o;
    o.log = [this](std::string_view l) {
      std::lock_guard g(mu);
      lines.emplace_back(l);
    };
    o.boot_allowance = std::chrono::seconds(240);
    return o;
  }
  std::string find(const std::string& prefix) {
    std::lock_guard g(mu);
    for (auto& l : lines)
      if (l.rfind(prefix, 0) == 0) return l;
    return {};
  }
  std::string last_report() {
    std::lock_guard g(mu);
    for (auto it = lines.rbegin(); it != lines.rend(); ++it)
      if (it->rfind("REPORT ", 0) == 0) return *it;
    return {};
  }
};

inline InvokeRequest request(std::string payload) {
  InvokeRequest r;
  r.payload = std::move(payload);
  return r;
}

}  // namespace thaw::engine
