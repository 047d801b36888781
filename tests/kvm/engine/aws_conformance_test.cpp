// The function files of tests/conformance/python3.11 in a guest (label kvm): the image ships
// the runtime's libraries (boto3, imported at INIT), the launcher runs the function's
// AWS_LAMBDA_EXEC_WRAPPER, marshalling is AWS's, and the agent carries each log record to the
// host as one event, however many lines it has. The native tier checks every case in detail
// (tests/native/python_runtime/aws_conformance_test.cpp); this one, that the guest adds nothing
// and loses nothing. Image: scripts/build-test-images.sh (python-aws-compat).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "engine/sandbox.h"
#include "tests/kvm/engine/test_functions.h"

namespace thaw::engine {
namespace {

using Status = InvokeResult::Status;
using nlohmann::json;

InvokeRequest case_request(const std::string& name) { return request(json{{"case", name}}.dump()); }

class GuestConformance : public ::testing::Test {
 protected:
  // One sandbox for the suite: a cold start with boto3 imported at INIT is the slow part.
  static void SetUpTestSuite() {
    logs_ = std::make_unique<Logs>();
    sandbox_ = Sandbox::cold_start(image("python-aws-compat"), logs_->options());
  }
  static void TearDownTestSuite() {
    sandbox_.reset();
    logs_.reset();
  }
  void SetUp() override { ASSERT_TRUE(sandbox_) << "the python-aws-compat sandbox did not start"; }
  // The log events from START to REPORT of the last invocation, START and REPORT left out.
  static std::vector<std::string> invocation_events() {
    std::lock_guard g(logs_->mu);
    auto& lines = logs_->lines;
    auto start = std::find_if(lines.rbegin(), lines.rend(), [](const auto& l) { return l.rfind("START ", 0) == 0; });
    std::vector<std::string> out;
    for (auto it = start.base(); it != lines.end(); ++it)
      if (it->rfind("END ", 0) != 0 && it->rfind("REPORT ", 0) != 0) out.push_back(*it);
    return out;
  }
  static inline std::unique_ptr<Logs> logs_;
  static inline std::unique_ptr<Sandbox> sandbox_;
};

TEST_F(GuestConformance, Boto3FromTheRuntimeAndTheLauncherAsAws) {
  auto r = sandbox_->invoke(case_request("environment"));
  ASSERT_EQ(r.status, Status::kSuccess) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["boto3"], "/var/lang/lib/python3.11/site-packages/boto3/__init__.py");
  EXPECT_EQ(j["env"]["AWS_EXECUTION_ENV"], "AWS_Lambda_python3.11");
  EXPECT_EQ(j["env"]["WRAPPED_BY"], "wrapper.sh with 2 arguments");
  EXPECT_EQ(j["env"]["PYTHONPATH"], "/var/runtime");
  EXPECT_EQ(j["env"]["TZ"], ":UTC");
  EXPECT_EQ(j["vendored"], "/var/task/vendor/vendored_mod.py");
  EXPECT_TRUE(std::regex_match(j["env"]["_X_AMZN_TRACE_ID"].get<std::string>(),
                               std::regex("Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0")))
      << j["env"]["_X_AMZN_TRACE_ID"];
  auto path = j["sys_path"];
  ASSERT_GE(path.size(), 3u);
  EXPECT_EQ(path[0], "/var/task");
  EXPECT_EQ(path[1], "/opt/python/lib/python3.11/site-packages");
  EXPECT_EQ(path[2], "/opt/python");

  auto s3 = sandbox_->invoke(case_request("boto3_client"));
  ASSERT_EQ(s3.status, Status::kSuccess) << s3.body;
  EXPECT_GT(json::parse(s3.body)["operations"].get<int>(), 50) << "botocore read its gzipped S3 model";
}

TEST_F(GuestConformance, MarshallingIsAws) {
  auto d = sandbox_->invoke(case_request("decimal"));
  ASSERT_EQ(d.status, Status::kSuccess) << d.body;
  EXPECT_EQ(d.body, R"({"exact": 1.10, "long": 12345678901234567890, "nan": NaN})");
  auto b = sandbox_->invoke(case_request("bytearray"));
  EXPECT_EQ(b.status, Status::kFunctionError);
  EXPECT_EQ(b.error_type, "Runtime.MarshalError");
}

TEST_F(GuestConformance, EachLogRecordIsOneEventOnTheHost) {
  auto r = sandbox_->invoke(case_request("log"));
  ASSERT_EQ(r.status, Status::kSuccess) << r.body;
  auto events = invocation_events();
  std::regex stamp(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  for (auto& e : events) e = std::regex_replace(e, stamp, "<ts>");
  std::vector<std::string> expected = {
      "first line\nsecond line",
      "after",
      "[WARNING]\t<ts>\t" + r.report.request_id + "\twarned\nover two lines",
      "[ERROR]\t<ts>\t" + r.report.request_id +
          "\tcaught\nTraceback (most recent call last):\n  File \"/var/task/aws-compat.py\", line 49, in "
          "_log_lines\n    raise KeyError(\"k\")\nKeyError: 'k'",
      "from context.log",
  };
  EXPECT_EQ(events, expected);
}

TEST_F(GuestConformance, AnUncaughtExceptionIsOneErrorEventAndItsJson) {
  auto r = sandbox_->invoke(request(R"({"case": "raise", "what": "news"})"));
  ASSERT_EQ(r.status, Status::kFunctionError);
  EXPECT_EQ(r.error_type, "ValueError");
  auto j = json::parse(r.body);
  EXPECT_EQ(j["errorMessage"], "bad news");
  EXPECT_EQ(j["requestId"], r.report.request_id);
  ASSERT_EQ(j["stackTrace"].size(), 2u) << j.dump(2);
  EXPECT_EQ(j["stackTrace"][1],
            "  File \"/var/task/aws-compat.py\", line 65, in _raise\n    raise ValueError(\"bad \" + "
            "event.get(\"what\", \"input\"))\n");
  auto events = invocation_events();
  ASSERT_EQ(events.size(), 1u) << ::testing::PrintToString(events);
  EXPECT_EQ(events[0].rfind("[ERROR] ValueError: bad news\nTraceback (most recent call last):\n", 0), 0u) << events[0];
  EXPECT_EQ(std::count(events[0].begin(), events[0].end(), '\n'), 5) << events[0];
}

TEST_F(GuestConformance, TheTenantReachesTheContext) {
  auto req = case_request("context");
  req.tenant_id = "tenant-7";
  auto r = sandbox_->invoke(req);
  ASSERT_EQ(r.status, Status::kSuccess) << r.body;
  EXPECT_EQ(json::parse(r.body)["tenant_id"], "tenant-7");
}

// Last: after it the agent reads the runtime's log pipe as lines for the sandbox's life.
TEST_F(GuestConformance, GarbageOnTheLogPipeIsReportedAndTheSandboxServesOn) {
  auto r = sandbox_->invoke(case_request("write_to_log_descriptor"));
  ASSERT_EQ(r.status, Status::kSuccess) << r.body;
  auto events = invocation_events();
  ASSERT_GE(events.size(), 2u) << ::testing::PrintToString(events);
  EXPECT_EQ(events[0].rfind("thaw-agent: the runtime's log has a bad frame (type 0x6e6f7420", 0), 0u) << events[0];
  EXPECT_EQ(events[1], "not a frame");
  EXPECT_TRUE(events.back().ends_with("still here")) << events.back();
  auto next = sandbox_->invoke(case_request("decimal"));
  EXPECT_EQ(next.status, Status::kSuccess) << next.body;
}

}  // namespace
}  // namespace thaw::engine
