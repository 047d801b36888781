// The official Node.js runtime interface client, aws-lambda-ric 3.3.0 from npm, unmodified,
// against thaw's Runtime API on loopback: a handler that echoes, throws, and returns large
// bodies, and a module whose import fails. Skipped (with the reason) when node or the built
// client is missing: tests/e2e/aws-lambda-ric/setup.sh builds and caches it.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime-api/runtime_api_server.h"

namespace thaw::runtime_api {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Kind = RuntimeEvent::Kind;

// Same rule as setup.sh.
fs::path ric_dir() {
  if (const char* d = std::getenv("THAW_RIC_DIR")) return d;
  fs::path cache;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) cache = x;
  else if (const char* h = std::getenv("HOME")) cache = fs::path(h) / ".cache";
  return cache / "thaw" / "aws-lambda-ric-3.3.0";
}

bool node_on_path() { return std::system("command -v node >/dev/null 2>&1") == 0; }

// The client as a child process: node .../bin/index.mjs <handler>, in the function directory.
class RicProcess {
 public:
  RicProcess(const fs::path& package, const std::string& handler, std::uint16_t port) {
    log_ = fs::temp_directory_path() / ("thaw-ric-" + std::to_string(::getpid()) + "-" + handler + ".log");
    fs::path function_dir = fs::path(THAW_SOURCE_DIR) / "tests/e2e/aws-lambda-ric/function";
    std::string api = "127.0.0.1:" + std::to_string(port);
    std::string entry = (package / "bin/index.mjs").string();
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      if (::chdir(function_dir.c_str()) != 0) ::_exit(126);
      ::setenv("AWS_LAMBDA_RUNTIME_API", api.c_str(), 1);
      ::setenv("_HANDLER", handler.c_str(), 1);
      ::setenv("LAMBDA_TASK_ROOT", function_dir.c_str(), 1);
      ::setenv("AWS_LAMBDA_FUNCTION_NAME", "echo", 1);
      ::setenv("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST", 1);
      ::setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128", 1);
      ::setenv("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/echo", 1);
      ::setenv("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef", 1);
      ::setenv("AWS_REGION", "us-east-1", 1);
      ::execlp("node", "node", entry.c_str(), handler.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~RicProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    fs::remove(log_, ec);
  }
  // Whether the client is still running (reaps it if not).
  bool running() {
    if (pid_ <= 0) return false;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }
  std::string log() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  pid_t pid_ = -1;
  fs::path log_;
};

class AwsLambdaRicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    package_ = ric_dir() / "node_modules" / "aws-lambda-ric";
    if (!node_on_path()) GTEST_SKIP() << "node is not on PATH: the aws-lambda-ric test needs Node.js";
    if (!fs::exists(ric_dir() / ".built") || !fs::exists(package_ / "dist/rapid-client.node")) {
      GTEST_SKIP() << "aws-lambda-ric 3.3.0 is not built in " << ric_dir()
                   << ": run tests/e2e/aws-lambda-ric/setup.sh (needs node, npm, cmake, autoconf, automake, libtool)";
    }
    RuntimeApiServer::Options o;
    o.port = 0;
    server_ = std::make_unique<RuntimeApiServer>(o);
    server_->start();
  }

  RuntimeEvent wait_for(RicProcess& ric) {
    // A generous safety net (node starts in well under a second); no test depends on timing.
    auto e = server_->wait_event(120s);
    if (!e) throw std::runtime_error("no event from aws-lambda-ric; its output:\n" + ric.log());
    return *e;
  }

  Invocation invocation(std::string id, std::string payload) {
    Invocation inv;
    inv.request_id = std::move(id);
    inv.deadline_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch() + 300s)
                          .count();
    inv.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:echo";
    inv.trace_id = "Root=1-5e1b4151-5ac6c58dc39a5b5c4b4d9d8e;Parent=53995c3f42cd8ad8;Sampled=0";
    inv.payload = std::move(payload);
    return inv;
  }

  fs::path package_;
  std::unique_ptr<RuntimeApiServer> server_;
};

TEST_F(AwsLambdaRicTest, EchoThrowAndLargeBodies) {
  RicProcess ric(package_, "index.handler", server_->port());
  RuntimeEvent e = wait_for(ric);
  ASSERT_EQ(e.kind, Kind::kInitDone) << ric.log();

  // Echo, with client context and identity.
  Invocation echo = invocation("11111111-2222-3333-4444-555555555555", R"({"hello":"world","n":[1,2,3]})");
  echo.client_context = R"({"client":{"installation_id":"i","app_title":"t","app_version_name":"1","app_version_code":"1","app_package_name":"p"},"custom":{"k":"v"},"env":{}})";
  echo.cognito_identity = R"({"cognitoIdentityId":"cid","cognitoIdentityPoolId":"pool"})";
  server_->submit(echo);
  e = wait_for(ric);
  ASSERT_EQ(e.kind, Kind::kInvocationResponse) << e.body << "\n" << ric.log();
  EXPECT_EQ(e.request_id, echo.request_id);
  auto j = nlohmann::json::parse(e.body);
  EXPECT_EQ(j.at("echo"), nlohmann::json::parse(echo.payload));
  EXPECT_EQ(j.at("requestId"), echo.request_id);
  EXPECT_EQ(j.at("functionArn"), echo.function_arn);
  EXPECT_EQ(j.at("deadlineInFuture"), true);
  EXPECT_EQ(j.at("clientContext").at("custom").at("k"), "v");
  EXPECT_EQ(j.at("identity").at("cognitoIdentityId"), "cid");

  // A handler that throws: the error JSON arrives as the client wrote it.
  server_->submit(invocation("throw-1", R"({"action":"throw","message":"on purpose"})"));
  e = wait_for(ric);
  ASSERT_EQ(e.kind, Kind::kInvocationError) << e.body << "\n" << ric.log();
  EXPECT_EQ(e.request_id, "throw-1");
  j = nlohmann::json::parse(e.body);
  EXPECT_EQ(j.at("errorType"), "TypeError");
  EXPECT_EQ(j.at("errorMessage"), "asked to fail: on purpose");
  EXPECT_TRUE(j.at("trace").is_array());

  // A response of exactly 6 MiB (a JSON string: the quotes count).
  server_->submit(invocation("large-ok", R"({"action":"large","size":)" + std::to_string(kMaxPayloadBytes - 2) + "}"));
  e = wait_for(ric);
  ASSERT_EQ(e.kind, Kind::kInvocationResponse) << ric.log();
  EXPECT_EQ(e.body.size(), kMaxPayloadBytes);
  EXPECT_EQ(e.body.front(), '"');
  EXPECT_EQ(e.body[1], 'x');

  // One byte more: refused, and the invocation fails as Lambda's does.
  server_->submit(invocation("large-too-big", R"({"action":"large","size":)" + std::to_string(kMaxPayloadBytes - 1) + "}"));
  e = wait_for(ric);
  ASSERT_EQ(e.kind, Kind::kInvocationError) << ric.log();
  EXPECT_EQ(e.request_id, "large-too-big");
  EXPECT_EQ(e.error_type, "Function.ResponseSizeTooLarge");

  // The client carries on after the 413.
  server_->submit(invocation("after", R"({"after":true})"));
  e = wait_for(ric);
  ASSERT_EQ(e.kind, Kind::kInvocationResponse) << ric.log();
  EXPECT_EQ(nlohmann::json::parse(e.body).at("echo").at("after"), true);
  EXPECT_TRUE(ric.running());
}

TEST_F(AwsLambdaRicTest, ImportFailureIsReportedAsInitError) {
  RicProcess ric(package_, "init_error.handler", server_->port());
  RuntimeEvent e = wait_for(ric);
  ASSERT_EQ(e.kind, Kind::kInitError) << ric.log();
  EXPECT_NE(e.body.find("init failed on purpose"), std::string::npos) << e.body;
  auto j = nlohmann::json::parse(e.body);
  EXPECT_TRUE(j.contains("errorType"));
  EXPECT_EQ(server_->state(), RuntimeState::kInitError);
}

}  // namespace
}  // namespace thaw::runtime_api
