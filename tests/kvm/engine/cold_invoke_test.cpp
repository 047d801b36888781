// Cold invocations of real functions in real microVMs (label kvm): boot, INIT, INVOKE, and
// every way an invocation can fail, with the engine (this process) surviving all of them.
// Images come from scripts/build-test-images.sh (BUILD/test-images/<function>).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

#include "engine/sandbox.h"
#include "tests/kvm/engine/test_functions.h"

namespace thaw::engine {
namespace {

using Status = InvokeResult::Status;

TEST(ColdInvoke, PythonEventInJsonOutContextRightThenWarm) {
  Logs logs;
  auto s = Sandbox::cold_start(image("python-hello"), logs.options());
  auto r = s->invoke(request(R"({"name":"thaw","n":[1,2,3]})"));
  ASSERT_EQ(r.status, Status::kSuccess) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["event"]["name"], "thaw");
  EXPECT_EQ(j["event"]["n"], nlohmann::json::parse("[1,2,3]"));
  EXPECT_EQ(j["aws_request_id"], r.report.request_id);
  EXPECT_EQ(j["function_name"], "python-hello");
  EXPECT_EQ(j["function_version"], "$LATEST");
  EXPECT_EQ(j["memory_limit_in_mb"], "256");
  EXPECT_EQ(j["invoked_function_arn"], "arn:aws:lambda:us-east-1:000000000000:function:python-hello");
  EXPECT_EQ(j["log_group_name"], "/aws/lambda/python-hello");
  EXPECT_TRUE(std::regex_match(j["log_stream_name"].get<std::string>(),
                               std::regex(R"(\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32})")));
  int remaining = j["remaining_time_in_millis"];
  EXPECT_GT(remaining, 0);
  EXPECT_LE(remaining, 3000);

  // REPORT: a cold start carries Init Duration and a measured Max Memory Used.
  auto report = logs.last_report();
  EXPECT_TRUE(std::regex_search(report, std::regex(R"(Init Duration: \d+\.\d\d ms$)"))) << report;
  EXPECT_NE(report.find("Memory Size: 256 MB"), std::string::npos) << report;
  EXPECT_GT(r.report.max_memory_used_bytes, 8u << 20);
  EXPECT_LT(r.report.max_memory_used_bytes, 256u << 20);
  EXPECT_FALSE(logs.find("INIT_REPORT Init Duration:").empty());
  EXPECT_FALSE(logs.find("START RequestId: " + r.report.request_id).empty());

  // Warm: the same sandbox, no Init Duration.
  auto w = s->invoke(request("[]"));
  ASSERT_EQ(w.status, Status::kSuccess) << w.body;
  EXPECT_EQ(logs.last_report().find("Init Duration"), std::string::npos);
  s->shutdown();
}

TEST(ColdInvoke, ProvidedBootstrap) {
  Logs logs;
  auto s = Sandbox::cold_start(image("provided-shell"), logs.options());
  auto r = s->invoke(request(R"({"k":"v"})"));
  ASSERT_EQ(r.status, Status::kSuccess) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["echo"]["k"], "v");
  EXPECT_EQ(j["request_id"], r.report.request_id);
}

TEST(ColdInvoke, HandlerExceptionIsLambdaErrorJsonAndSandboxLives) {
  Logs logs;
  auto s = Sandbox::cold_start(image("python-handler-error"), logs.options());
  auto r = s->invoke(request("{}"));
  ASSERT_EQ(r.status, Status::kFunctionError) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_TRUE(j.contains("errorMessage"));
  EXPECT_TRUE(j.contains("errorType"));
  ASSERT_TRUE(j["stackTrace"].is_array());
  EXPECT_FALSE(j["stackTrace"].empty());
  // X-Amz-Function-Error carries the type the runtime reported (Lambda-Runtime-Function-Error-Type):
  // the handler's exception class, the same as the body's errorType.
  EXPECT_EQ(r.error_type, "ValueError");
  EXPECT_EQ(j["errorType"], "ValueError");
  EXPECT_TRUE(s->alive());
  auto again = s->invoke(request("{}"));
  EXPECT_EQ(again.status, Status::kFunctionError);
}

TEST(ColdInvoke, InitErrorIsReported) {
  Logs logs;
  try {
    Sandbox::cold_start(image("python-init-error"), logs.options());
    FAIL() << "INIT should have failed";
  } catch (const SandboxError& e) {
    EXPECT_FALSE(e.error_type().empty());
    EXPECT_NE(e.error_type(), "Sandbox.Timedout") << e.what();
    auto j = nlohmann::json::parse(e.body());
    EXPECT_TRUE(j.contains("errorMessage")) << e.body();
  }
}

TEST(ColdInvoke, TimeoutDiscardsTheSandbox) {
  Logs logs;
  auto s = Sandbox::cold_start(image("python-timeout"), logs.options());
  auto r = s->invoke(request(R"({"sleep_s": 30})"));
  ASSERT_EQ(r.status, Status::kTimeout) << r.body;
  EXPECT_NE(r.body.find("Task timed out after 1.00 seconds"), std::string::npos) << r.body;
  EXPECT_FALSE(s->alive());
  EXPECT_NE(logs.last_report().find("Status: timeout"), std::string::npos);
  EXPECT_EQ(s->invoke(request("{}")).status, Status::kSandboxError);
}

TEST(ColdInvoke, RuntimeCrashIsExitError) {
  Logs logs;
  auto s = Sandbox::cold_start(image("python-crash"), logs.options());
  auto r = s->invoke(request("{}"));
  ASSERT_EQ(r.status, Status::kRuntimeExit) << r.body;
  EXPECT_EQ(r.error_type, "Runtime.ExitError");
  EXPECT_NE(r.body.find("Runtime exited"), std::string::npos) << r.body;
  EXPECT_FALSE(s->alive());
}

TEST(ColdInvoke, SixMegabytesEachWayAndOneMoreRefused) {
  Logs logs;
  auto s = Sandbox::cold_start(image("python-large-response"), logs.options());
  // A request of exactly 6 MiB, answered by a response of exactly 6 MiB.
  std::string head = R"({"pad":")", tail = R"("})";
  std::string req = head + std::string(6 * 1024 * 1024 - head.size() - tail.size(), 'p') + tail;
  ASSERT_EQ(req.size(), 6u * 1024 * 1024);
  auto r = s->invoke(request(req));
  ASSERT_EQ(r.status, Status::kSuccess) << r.body.substr(0, 300);
  EXPECT_EQ(r.body.size(), 6u * 1024 * 1024);
  EXPECT_EQ(r.body.find_first_not_of('x', 1), r.body.size() - 1);

  // One byte more each way: refused, and the sandbox keeps serving.
  auto big = s->invoke(request(req + " "));
  EXPECT_EQ(big.status, Status::kFunctionError);
  EXPECT_EQ(big.error_type, "RequestEntityTooLargeException");
  auto too_large = s->invoke(request(R"({"bytes": 6291455})"));
  ASSERT_EQ(too_large.status, Status::kFunctionError) << too_large.body.substr(0, 300);
  EXPECT_NE(too_large.error_type.find("ResponseSizeTooLarge"), std::string::npos) << too_large.error_type;
  EXPECT_EQ(s->invoke(request(R"({"bytes": 10})")).status, Status::kSuccess);
}

}  // namespace
}  // namespace thaw::engine
