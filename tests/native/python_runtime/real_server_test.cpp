// The python3.11 runtime against thaw's own Runtime API server (runtime-api/), as the guest
// agent runs them: server on loopback, bootstrap as a child with Lambda's environment.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime-api/runtime_api_server.h"

namespace {
using nlohmann::json;
using thaw::runtime_api::Invocation;
using thaw::runtime_api::RuntimeApiServer;
using thaw::runtime_api::RuntimeEvent;
using Kind = RuntimeEvent::Kind;
using namespace std::chrono_literals;

const std::string kSource = THAW_SOURCE_DIR;

// The bootstrap as a child process; killed and reaped when the test ends.
class RuntimeChild {
 public:
  RuntimeChild(const std::string& task_root, const std::string& handler, std::uint16_t port, bool snap_start) {
    std::vector<std::string> env = {
        "PATH=/usr/bin:/bin", "_HANDLER=" + handler, "LAMBDA_TASK_ROOT=" + task_root,
        "AWS_LAMBDA_RUNTIME_API=127.0.0.1:" + std::to_string(port), "AWS_LAMBDA_FUNCTION_NAME=fn",
        "AWS_LAMBDA_FUNCTION_VERSION=$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
        "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/fn", "AWS_LAMBDA_LOG_STREAM_NAME=stream", "AWS_REGION=us-east-1",
        std::string("AWS_LAMBDA_INITIALIZATION_TYPE=") + (snap_start ? "snap-start" : "on-demand"), "TZ=:UTC"};
    std::vector<std::string> argv = {kSource + "/guest/runtimes/python3.11/bootstrap"};
    std::vector<char*> a, e;
    for (auto& s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    for (auto& s : env) e.push_back(s.data());
    e.push_back(nullptr);
    if (posix_spawn(&pid_, a[0], nullptr, nullptr, a.data(), e.data()) != 0) pid_ = -1;
  }
  ~RuntimeChild() {
    if (pid_ <= 0) return;
    if (!exited_) kill(pid_, SIGKILL);
    int status;
    if (!exited_) waitpid(pid_, &status, 0);
  }
  RuntimeChild(const RuntimeChild&) = delete;
  RuntimeChild& operator=(const RuntimeChild&) = delete;
  bool started() const { return pid_ > 0; }
  // Exit code once the runtime ended by itself (waits up to `timeout`), or -1.
  int wait_exit(std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      usleep(10000);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
};

class PythonRuntimeWithServer : public ::testing::Test {
 protected:
  void start(bool snap_start = false) {
    RuntimeApiServer::Options o;
    o.port = 0;
    o.snap_start = snap_start;
    server_ = std::make_unique<RuntimeApiServer>(o);
    server_->start();
  }
  void TearDown() override {
    if (server_) server_->stop();
  }
  RuntimeEvent next_event() {
    auto e = server_->wait_event(20s);
    if (!e) throw std::runtime_error("no event from the runtime within 20 s");
    return *e;
  }
  static Invocation invocation(const std::string& id, const std::string& payload) {
    Invocation i;
    i.request_id = id;
    i.deadline_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch() + 60s)
                        .count();
    i.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fn";
    i.payload = payload;
    return i;
  }
  static std::string example(const std::string& name) { return kSource + "/examples/functions/" + name; }

  std::unique_ptr<RuntimeApiServer> server_;
};

TEST_F(PythonRuntimeWithServer, ServesInvocationsOneAfterAnother) {
  start();
  RuntimeChild hello(example("python-hello"), "lambda_function.handler", server_->port(), false);
  ASSERT_TRUE(hello.started());
  EXPECT_EQ(next_event().kind, Kind::kInitDone);
  for (int i = 0; i < 3; ++i) {
    auto id = "id-" + std::to_string(i);
    server_->submit(invocation(id, R"({"n": )" + std::to_string(i) + "}"));
    auto e = next_event();
    ASSERT_EQ(e.kind, Kind::kInvocationResponse) << e.body;
    EXPECT_EQ(e.request_id, id);
    auto body = json::parse(e.body);
    EXPECT_EQ(body["event"]["n"], i);
    EXPECT_EQ(body["aws_request_id"], id);
    EXPECT_EQ(body["invoked_function_arn"], "arn:aws:lambda:us-east-1:123456789012:function:fn");
    EXPECT_GT(body["remaining_time_in_millis"].get<int>(), 50000);
  }
}

TEST_F(PythonRuntimeWithServer, HandlerErrorAndInitError) {
  start();
  {
    RuntimeChild failing(example("python-handler-error"), "lambda_function.handler", server_->port(), false);
    EXPECT_EQ(next_event().kind, Kind::kInitDone);
    server_->submit(invocation("e-1", "{}"));
    auto e = next_event();
    ASSERT_EQ(e.kind, Kind::kInvocationError) << e.body;
    EXPECT_EQ(e.error_type, "ValueError");
    EXPECT_EQ(json::parse(e.body)["errorMessage"], "bad input: {}");
  }
  server_->stop();
  start();
  RuntimeChild init_error(example("python-init-error"), "lambda_function.handler", server_->port(), false);
  auto e = next_event();
  ASSERT_EQ(e.kind, Kind::kInitError) << e.body;
  EXPECT_EQ(e.error_type, "RuntimeError");
  EXPECT_EQ(json::parse(e.body)["errorType"], "RuntimeError");
  EXPECT_EQ(init_error.wait_exit(10s), 1);
}

TEST_F(PythonRuntimeWithServer, SixMiBResponseAndOneByteMore) {
  start();
  RuntimeChild r(example("python-large-response"), "lambda_function.handler", server_->port(), false);
  EXPECT_EQ(next_event().kind, Kind::kInitDone);
  server_->submit(invocation("big", "{}"));
  auto e = next_event();
  ASSERT_EQ(e.kind, Kind::kInvocationResponse);
  EXPECT_EQ(e.body.size(), 6u << 20);
  server_->submit(invocation("too-big", R"({"bytes": 6291455})"));  // + 2 quotes = 6 MiB + 1
  e = next_event();
  EXPECT_EQ(e.kind, Kind::kInvocationError);
  EXPECT_EQ(e.request_id, "too-big");
  // The runtime survives the refusal and serves the next invocation.
  server_->submit(invocation("after", R"({"bytes": 3})"));
  e = next_event();
  ASSERT_EQ(e.kind, Kind::kInvocationResponse) << e.body;
  EXPECT_EQ(e.body, R"("xxx")");
}

TEST_F(PythonRuntimeWithServer, SnapStartCheckpointAndRestore) {
  start(/*snap_start=*/true);
  RuntimeChild r(example("python-snapstart-hooks"), "lambda_function.handler", server_->port(), true);
  EXPECT_EQ(next_event().kind, Kind::kRestoreReached);
  server_->complete_restore();
  EXPECT_EQ(next_event().kind, Kind::kRestoreDone);
  server_->submit(invocation("r-1", R"({"message": "restored"})"));
  auto e = next_event();
  ASSERT_EQ(e.kind, Kind::kInvocationResponse) << e.body;
  auto body = json::parse(e.body);
  EXPECT_EQ(body["events"], json({"init:connected", "before_snapshot:closed:db", "before_snapshot:last",
                                  "after_restore:reconnected", "after_restore:second!"}));
  EXPECT_EQ(body["echo"], "restored");
}

TEST_F(PythonRuntimeWithServer, FailingAfterRestoreHook) {
  start(/*snap_start=*/true);
  RuntimeChild r(kSource + "/tests/native/python_runtime/functions", "failing_after_restore.handler",
                 server_->port(), true);
  EXPECT_EQ(next_event().kind, Kind::kRestoreReached);
  server_->complete_restore();
  auto e = next_event();
  ASSERT_EQ(e.kind, Kind::kRestoreError) << e.body;
  EXPECT_EQ(e.error_type, "Runtime.AfterRestoreError");
  EXPECT_EQ(json::parse(e.body)["errorType"], "ConnectionRefusedError");
  EXPECT_EQ(r.wait_exit(10s), 65);
}

}  // namespace
