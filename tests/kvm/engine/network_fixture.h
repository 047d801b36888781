#pragma once
// The fixture of the engine's network tests (label kvm). Each test runs in a network namespace
// of its own (ctest runs every test as a process), so the engine's veths and the test's servers
// touch nothing on the host; servers listen on a stable address on the namespace's loopback,
// the way a database listens on a host address.
#include <sched.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "base/ip_interface.h"
#include "thaw/engine.h"

namespace thaw::test {

inline constexpr const char* kServerAddress = "198.19.0.1";  // RFC 2544's benchmarking range

inline std::string example_function(const std::string& name) {
  return std::string(THAW_SOURCE_DIR) + "/examples/functions/" + name;
}

// "ADDRESS:PORT" of a server on kServerAddress, as FunctionSettings::network_allow lists it.
inline std::string server_destination(uint16_t port) { return std::string(kServerAddress) + ":" + std::to_string(port); }

class EngineNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) needs root: " << std::strerror(errno);
    set_interface_up("lo");
    set_interface_address("lo:srv", kServerAddress, 32);
    data_ = std::filesystem::path(THAW_BINARY_DIR) /
            ("test-net-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(data_);
  }
  void TearDown() override { std::filesystem::remove_all(data_); }

  // Budgets for a software CPU: what these tests check is the network, not the start's speed.
  EngineOptions options() const {
    EngineOptions o;
    o.data_dir = data_.string();
    o.init_timeout = std::chrono::seconds(60);
    o.restore_timeout = std::chrono::seconds(120);
    o.boot_allowance = std::chrono::seconds(240);
    o.cpu_scale = 0;
    o.snapshot_zstd_level = 0;  // re-encoding would share the one emulated CPU with the clones
    return o;
  }
  static FunctionSettings net_function(std::vector<std::string> allow, SnapStartApplyOn snap = SnapStartApplyOn::kNone) {
    FunctionSettings s;
    s.runtime = "python3.11";
    s.timeout_s = 60;
    s.snap_start = snap;
    s.network_allow = std::move(allow);
    return s;
  }
  // Invokes, expecting no function error, and parses the response.
  static nlohmann::json call(Engine& engine, const std::string& function, const nlohmann::json& event,
                             InvokeResult* out = nullptr) {
    auto r = engine.invoke({.function = function, .payload = event.dump()});
    EXPECT_EQ(r.function_error, "") << r.payload;
    if (out) *out = r;
    return nlohmann::json::parse(r.payload, nullptr, false);
  }

  std::filesystem::path data_;
};

}  // namespace thaw::test
