#pragma once
// The python3.11 runtime run against run_scenario.py's recording Runtime API server: the
// fixture of the runtime's native tests (python_runtime_test.cpp, aws_conformance_test.cpp).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "guest/image/host_command.h"

namespace thaw::test {
namespace fs = std::filesystem;
using nlohmann::json;

const std::string kSource = THAW_SOURCE_DIR;
const std::string kPython = "/usr/bin/python3.11";
const std::string kBootstrap = kSource + "/guest/runtimes/python3.11/bootstrap";
const std::string kDriver = kSource + "/tests/native/python_runtime/run_scenario.py";
const std::string kCases = kSource + "/tests/native/python_runtime/functions";
const std::string kConformance = kSource + "/tests/conformance/python3.11";

inline std::string example(const std::string& name) { return kSource + "/examples/functions/" + name; }

// The first three numbers of the stream random.seed(42) gives, by the runtime's interpreter.
inline json seeded_random_stream() {
  return json::parse(thaw::image::run_host_command({kPython, "-c",
                                                    "import random, json; random.seed(42); "
                                                    "print(json.dumps([random.random() for _ in range(3)]))"})
                         .out);
}

struct Scenario {
  explicit Scenario(std::string root, std::string h = "lambda_function.handler")
      : task_root(std::move(root)), handler(std::move(h)) {}
  std::string task_root;
  std::string handler;
  json scenario = json::object();
  std::string python;  // "": the bootstrap runs itself (it is the runtime's launcher script)
  std::string bootstrap = kBootstrap;
  std::string chroot;
};

class PythonRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = fs::temp_directory_path() / ("thaw-pyrt-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  json run(const Scenario& r) {
    auto scenario_file = (tmp_ / "scenario.json").string();
    std::ofstream(scenario_file) << r.scenario.dump();
    std::vector<std::string> argv = {kPython, kDriver, "--bootstrap", r.bootstrap, "--task-root", r.task_root,
                                     "--handler", r.handler, "--scenario", scenario_file, "--python", r.python};
    if (!r.chroot.empty()) {
      argv.push_back("--chroot");
      argv.push_back(r.chroot);
    }
    auto result = thaw::image::run_host_command(argv);
    EXPECT_EQ(result.exit_status, 0) << result.out;
    auto j = json::parse(result.out);
    EXPECT_FALSE(j["timed_out"].get<bool>()) << j.dump(2);
    return j;
  }

  static json events(std::initializer_list<std::string> bodies) {
    json e = json::array();
    for (const auto& b : bodies) e.push_back({{"body", b}});
    return e;
  }

  // The requests whose path ends with `suffix`.
  static std::vector<json> requests(const json& run, const std::string& suffix) {
    std::vector<json> out;
    for (const auto& r : run["requests"])
      if (r["path"].get<std::string>().ends_with(suffix)) out.push_back(r);
    return out;
  }
  static std::vector<std::string> paths(const json& run) {
    std::vector<std::string> out;
    for (const auto& r : run["requests"]) out.push_back(r["method"].get<std::string>() + " " + r["path"].get<std::string>());
    return out;
  }

  fs::path tmp_;
};


}  // namespace thaw::test
