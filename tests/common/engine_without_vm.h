#pragma once
// A fixture for thaw::Engine tests where nothing boots: a data directory of the test's own, a
// stand-in guest agent (images are really built, the provided runtime's), and the
// provided-shell example as code.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "thaw/engine.h"

namespace thaw::test {

class EngineWithoutVm : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("thaw-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name()) + "-" +
            std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    agent_ = (dir_ / "agent").string();
    std::ofstream(agent_) << "#!/bin/sh\n# stands in for the guest agent: nothing boots here\n";
    std::filesystem::permissions(agent_, std::filesystem::perms(0755));
    code_ = std::string(THAW_SOURCE_DIR) + "/examples/functions/provided-shell";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // `builders` 0: functions stay Pending, no image is built.
  EngineOptions options(unsigned builders = 1) {
    EngineOptions o;
    o.data_dir = (dir_ / "data").string();
    o.guest_agent = agent_;
    o.build_workers = builders;
    o.network.ready = 0;  // no sandbox network is made ahead for functions with destinations
    return o;
  }
  static FunctionSettings provided() {
    FunctionSettings s;
    s.runtime = "provided";
    s.handler = "function.handler";
    return s;
  }

  std::filesystem::path dir_;
  std::string agent_, code_;
};

}  // namespace thaw::test
