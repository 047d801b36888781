// Conformance of the Runtime API server (version 2018-06-01) on loopback, driven by a raw
// socket client: every endpoint, the state machine (403), bad ids (400), payload limits (413),
// chunked bodies with trailers, keep-alive, long header lines, SnapStart's restore pair.
#include "runtime-api/runtime_api_server.h"

#include <gtest/gtest.h>

#include <poll.h>

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "tests/native/runtime_api/http_test_client.h"

namespace thaw::runtime_api {
namespace {

using namespace std::chrono_literals;
using test::ClientResponse;
using test::TestClient;
using Kind = RuntimeEvent::Kind;

constexpr std::string_view kNext = "/2018-06-01/runtime/invocation/next";
constexpr std::string_view kInitError = "/2018-06-01/runtime/init/error";
constexpr std::string_view kRestoreNext = "/2018-06-01/runtime/restore/next";
constexpr std::string_view kRestoreError = "/2018-06-01/runtime/restore/error";

std::string response_path(std::string_view id) { return "/2018-06-01/runtime/invocation/" + std::string(id) + "/response"; }
std::string error_path(std::string_view id) { return "/2018-06-01/runtime/invocation/" + std::string(id) + "/error"; }
std::string get(std::string_view path) { return "GET " + std::string(path) + " HTTP/1.1\r\nHost: x\r\n\r\n"; }

Invocation make_invocation(std::string id, std::string payload) {
  Invocation inv;
  inv.request_id = std::move(id);
  inv.deadline_ms = 1'900'000'000'000;
  inv.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:echo";
  inv.trace_id = "Root=1-5e1b4151-5ac6c58dc39a5b5c4b4d9d8e;Parent=1;Sampled=0";
  inv.payload = std::move(payload);
  return inv;
}

std::string error_type_of(const ClientResponse& r) { return nlohmann::json::parse(r.body).at("errorType"); }

class RuntimeApiTest : public ::testing::Test {
 protected:
  void start(bool snap_start = false) {
    RuntimeApiServer::Options o;
    o.port = 0;
    o.snap_start = snap_start;
    server_ = std::make_unique<RuntimeApiServer>(o);
    server_->start();
  }
  TestClient client() { return TestClient(server_->port()); }

  RuntimeEvent expect_event(Kind kind) {
    auto e = server_->wait_event(60s);
    if (!e) throw std::runtime_error("no event from the Runtime API server");
    EXPECT_EQ(to_string(e->kind), to_string(kind));
    return *e;
  }

  // The runtime finishes init on `c`; returns once the server has seen its first next.
  void finish_init(TestClient& c) {
    c.send(get(kNext));
    expect_event(Kind::kInitDone);
    EXPECT_EQ(server_->state(), RuntimeState::kReady);
  }

  // Submits an invocation and reads it from the next already sent on `c`.
  ClientResponse deliver(TestClient& c, Invocation inv) {
    server_->submit(std::move(inv));
    return c.read_response();
  }

  std::unique_ptr<RuntimeApiServer> server_;
};

TEST_F(RuntimeApiTest, InvokeCycleOnOneKeepAliveConnection) {
  start();
  TestClient c = client();
  finish_init(c);
  EXPECT_FALSE(c.readable_now());  // long poll: nothing to hand out yet

  for (int i = 0; i < 3; ++i) {
    std::string id = "req-" + std::to_string(i);
    ClientResponse next = deliver(c, make_invocation(id, R"({"n":)" + std::to_string(i) + "}"));
    EXPECT_EQ(next.status, 200);
    EXPECT_EQ(next.body, R"({"n":)" + std::to_string(i) + "}");
    EXPECT_EQ(next.header_or("Lambda-Runtime-Aws-Request-Id"), id);
    EXPECT_EQ(next.header_or("Lambda-Runtime-Deadline-Ms"), "1900000000000");
    EXPECT_EQ(next.header_or("Lambda-Runtime-Invoked-Function-Arn"), "arn:aws:lambda:us-east-1:123456789012:function:echo");
    EXPECT_EQ(next.header_or("Lambda-Runtime-Trace-Id"), "Root=1-5e1b4151-5ac6c58dc39a5b5c4b4d9d8e;Parent=1;Sampled=0");
    EXPECT_EQ(next.header("Lambda-Runtime-Client-Context"), nullptr);
    EXPECT_EQ(next.header("Lambda-Runtime-Cognito-Identity"), nullptr);
    EXPECT_EQ(server_->state(), RuntimeState::kInvoking);

    ClientResponse posted = c.request("POST", response_path(id), "result " + std::to_string(i));
    EXPECT_EQ(posted.status, 202);
    EXPECT_EQ(posted.body, R"({"status":"OK"})");
    RuntimeEvent e = expect_event(Kind::kInvocationResponse);
    EXPECT_EQ(e.request_id, id);
    EXPECT_EQ(e.body, "result " + std::to_string(i));
    c.send(get(kNext));
  }
}

TEST_F(RuntimeApiTest, ClientContextAndCognitoIdentityWhenPresent) {
  start();
  TestClient c = client();
  finish_init(c);
  Invocation inv = make_invocation("ctx", "{}");
  inv.client_context = R"({"client":{"app_title":"t"},"custom":{"k":"v"}})";
  inv.cognito_identity = R"({"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"})";
  ClientResponse next = deliver(c, inv);
  EXPECT_EQ(next.header_or("Lambda-Runtime-Client-Context"), inv.client_context);
  EXPECT_EQ(next.header_or("Lambda-Runtime-Cognito-Identity"), inv.cognito_identity);
}

TEST_F(RuntimeApiTest, InvocationQueuedBeforeInitIsHandedOutByTheFirstNext) {
  start();
  server_->submit(make_invocation("early", "{}"));
  TestClient c = client();
  c.send(get(kNext));
  ClientResponse next = c.read_response();
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.header_or("Lambda-Runtime-Aws-Request-Id"), "early");
  expect_event(Kind::kInitDone);
}

TEST_F(RuntimeApiTest, FunctionErrorPassesBodyThroughWithOrWithoutErrorType) {
  start();
  TestClient c = client();
  finish_init(c);
  deliver(c, make_invocation("e1", "{}"));
  std::string body = R"json({"errorMessage":"boom","errorType":"TypeError","stackTrace":["at x (index.js:1)"]})json";
  ClientResponse r = c.request("POST", error_path("e1"), body, "Lambda-Runtime-Function-Error-Type: Runtime.TypeError\r\n");
  EXPECT_EQ(r.status, 202);
  RuntimeEvent e = expect_event(Kind::kInvocationError);
  EXPECT_EQ(e.request_id, "e1");
  EXPECT_EQ(e.error_type, "Runtime.TypeError");
  EXPECT_EQ(e.body, body);

  c.send(get(kNext));
  deliver(c, make_invocation("e2", "{}"));
  r = c.request("POST", error_path("e2"), "not even JSON");
  EXPECT_EQ(r.status, 202);
  e = expect_event(Kind::kInvocationError);
  EXPECT_EQ(e.error_type, "");
  EXPECT_EQ(e.body, "not even JSON");

  // "Unhandled" (what AWS's runtimes say of any exception a function raised) or no header: the
  // type is the body's errorType.
  const char* headers[] = {"Lambda-Runtime-Function-Error-Type: Unhandled\r\n", ""};
  for (const char* header : headers) {
    c.send(get(kNext));
    deliver(c, make_invocation("e3", "{}"));
    r = c.request("POST", error_path("e3"), R"({"errorMessage":"bad","errorType":"ValueError"})", header);
    EXPECT_EQ(r.status, 202);
    EXPECT_EQ(expect_event(Kind::kInvocationError).error_type, "ValueError") << header;
  }
}

TEST_F(RuntimeApiTest, WrongRequestIdIs400AndWrongStateIs403) {
  start();
  TestClient c = client();
  // INIT: no invocation exists yet.
  ClientResponse r = c.request("POST", response_path("nope"), "x");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(error_type_of(r), "InvalidStateTransition");
  r = c.request("POST", kRestoreError, "{}");
  EXPECT_EQ(r.status, 403);

  finish_init(c);
  deliver(c, make_invocation("current", "{}"));
  r = c.request("POST", response_path("other"), "x");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_type_of(r), "InvalidRequestID");
  r = c.request("POST", error_path("other"), "x");
  EXPECT_EQ(r.status, 400);
  r = c.request("POST", kInitError, "{}");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(server_->state(), RuntimeState::kInvoking);

  EXPECT_EQ(c.request("POST", response_path("current"), "ok").status, 202);
  expect_event(Kind::kInvocationResponse);
  // A second result for the same invocation.
  r = c.request("POST", response_path("current"), "again");
  EXPECT_EQ(r.status, 403);
  r = c.request("POST", error_path("current"), "again");
  EXPECT_EQ(r.status, 403);
  EXPECT_FALSE(server_->poll_event().has_value());
}

TEST_F(RuntimeApiTest, NextWhileInvokingHandsOutTheCurrentInvocationAgain) {
  start();
  TestClient c = client();
  finish_init(c);
  deliver(c, make_invocation("again", "payload"));
  TestClient retry = client();  // e.g. the client lost its connection and retries
  ClientResponse r = retry.request("GET", kNext);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header_or("Lambda-Runtime-Aws-Request-Id"), "again");
  EXPECT_EQ(r.body, "payload");
}

TEST_F(RuntimeApiTest, SubmitWhileAnInvocationIsInFlightThrows) {
  start();
  server_->submit(make_invocation("a", "{}"));
  EXPECT_THROW(server_->submit(make_invocation("b", "{}")), Error);
  TestClient c = client();
  c.send(get(kNext));
  c.read_response();
  EXPECT_THROW(server_->submit(make_invocation("b", "{}")), Error);
  EXPECT_THROW(server_->submit(make_invocation("", "{}")), Error);
}

TEST_F(RuntimeApiTest, InitErrorEndsInit) {
  start();
  TestClient c = client();
  std::string body = R"({"errorMessage":"Cannot find module 'index'","errorType":"Runtime.ImportModuleError"})";
  ClientResponse r = c.request("POST", kInitError, body, "Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError\r\n");
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body, R"({"status":"OK"})");
  RuntimeEvent e = expect_event(Kind::kInitError);
  EXPECT_EQ(e.error_type, "Runtime.ImportModuleError");
  EXPECT_EQ(e.body, body);
  EXPECT_EQ(server_->state(), RuntimeState::kInitError);
  EXPECT_EQ(c.request("POST", kInitError, body).status, 403);
  EXPECT_EQ(c.request("GET", kNext).status, 403);
  EXPECT_THROW(server_->submit(make_invocation("x", "{}")), Error);
}

TEST_F(RuntimeApiTest, SixMebibyteResponseIsAcceptedAndOneByteMoreIsRefused) {
  start();
  TestClient c = client();
  finish_init(c);
  deliver(c, make_invocation("big", "{}"));
  std::string body(kMaxPayloadBytes, 'a');
  body.front() = '<';
  body.back() = '>';
  ClientResponse r = c.request("POST", response_path("big"), body);
  EXPECT_EQ(r.status, 202);
  RuntimeEvent e = expect_event(Kind::kInvocationResponse);
  EXPECT_EQ(e.body.size(), kMaxPayloadBytes);
  EXPECT_EQ(e.body, body);

  c.send(get(kNext));
  deliver(c, make_invocation("too-big", "{}"));
  body.push_back('!');
  r = c.request("POST", response_path("too-big"), body);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(error_type_of(r), "RequestEntityTooLarge");
  e = expect_event(Kind::kInvocationError);
  EXPECT_EQ(e.request_id, "too-big");
  EXPECT_EQ(e.error_type, "Function.ResponseSizeTooLarge");
  auto j = nlohmann::json::parse(e.body);
  EXPECT_EQ(j.at("errorType"), "Function.ResponseSizeTooLarge");
  EXPECT_NE(j.at("errorMessage").get<std::string>().find("6291457"), std::string::npos);

  // The connection survives the 413 and the runtime carries on.
  c.send(get(kNext));
  EXPECT_EQ(deliver(c, make_invocation("after", "{}")).header_or("Lambda-Runtime-Aws-Request-Id"), "after");
}

TEST_F(RuntimeApiTest, SixMebibyteEventIsDelivered) {
  start();
  TestClient c = client();
  finish_init(c);
  std::string payload(kMaxPayloadBytes, 'e');
  ClientResponse r = deliver(c, make_invocation("big-event", payload));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, payload);
}

TEST_F(RuntimeApiTest, ChunkedBodyWithExtensionsAndTrailers) {
  start();
  TestClient c = client();
  finish_init(c);
  deliver(c, make_invocation("chunked", "{}"));
  c.send(
      "POST " + response_path("chunked") +
      " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
      "5\r\nhello\r\n"
      "1;ext=1\r\n \r\n"
      "00005\r\nworld\r\n"
      "0\r\nX-Checksum: abc\r\nLambda-Runtime-Function-Error-Body: ignored\r\n\r\n");
  ClientResponse r = c.read_response();
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(expect_event(Kind::kInvocationResponse).body, "hello world");

  // An oversized chunked body: 413, and the connection goes on.
  c.send(get(kNext));
  deliver(c, make_invocation("chunked-big", "{}"));
  std::string chunk(1 << 20, 'c');
  std::string req = "POST " + response_path("chunked-big") + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  c.send(req);
  for (int i = 0; i < 6; ++i) c.send("100000\r\n" + chunk + "\r\n");
  c.send("1\r\nz\r\n0\r\n\r\n");
  r = c.read_response();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(expect_event(Kind::kInvocationError).error_type, "Function.ResponseSizeTooLarge");
  EXPECT_EQ(c.request("GET", "/2018-06-01/runtime/nothing").status, 404);
}

TEST_F(RuntimeApiTest, HeaderLinesUpToOneMebibyte) {
  start();
  TestClient c = client();
  finish_init(c);
  deliver(c, make_invocation("hdr", "{}"));
  std::string big(1 << 20, 'h');
  ClientResponse r = c.request("POST", response_path("hdr"), "ok", "X-Big: " + big + "\r\n");
  EXPECT_EQ(r.status, 202);
  expect_event(Kind::kInvocationResponse);

  std::string too_big((1 << 20) + 8192, 'h');
  r = c.request("POST", response_path("hdr"), "ok", "X-Big: " + too_big + "\r\n");
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(error_type_of(r), "InvalidRequest");
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(RuntimeApiTest, StreamingResponseModeIsRefusedClearly) {
  start();
  TestClient c = client();
  finish_init(c);
  deliver(c, make_invocation("stream", "{}"));
  ClientResponse r = c.request("POST", response_path("stream"), "part",
                               "Lambda-Runtime-Function-Response-Mode: streaming\r\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_type_of(r), "InvalidFunctionResponseMode");
  EXPECT_NE(r.body.find("streaming"), std::string::npos);
  // The invocation is still open: the runtime can report an error for it.
  EXPECT_EQ(c.request("POST", error_path("stream"), "{}").status, 202);
  expect_event(Kind::kInvocationError);
}

TEST_F(RuntimeApiTest, ExpectContinueGetsInterimResponse) {
  start();
  TestClient c = client();
  finish_init(c);
  deliver(c, make_invocation("cont", "{}"));
  c.send("POST " + response_path("cont") + " HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(c.read_response().status, 100);
  c.send("done");
  EXPECT_EQ(c.read_response().status, 202);
  EXPECT_EQ(expect_event(Kind::kInvocationResponse).body, "done");
}

TEST_F(RuntimeApiTest, SnapStartRestorePair) {
  start(/*snap_start=*/true);
  TestClient c = client();
  c.send(get(kRestoreNext));
  expect_event(Kind::kRestoreReached);
  EXPECT_EQ(server_->state(), RuntimeState::kRestoreReady);
  EXPECT_FALSE(c.readable_now());  // parked: this is the checkpoint point
  TestClient other = client();
  EXPECT_EQ(other.request("GET", kNext).status, 403);
  EXPECT_EQ(other.request("GET", kRestoreNext).status, 403);

  server_->complete_restore();
  ClientResponse r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(server_->state(), RuntimeState::kRestoring);
  EXPECT_THROW(server_->complete_restore(), Error);

  c.send(get(kNext));
  expect_event(Kind::kRestoreDone);
  r = deliver(c, make_invocation("restored", "{}"));
  EXPECT_EQ(r.header_or("Lambda-Runtime-Aws-Request-Id"), "restored");
}

TEST_F(RuntimeApiTest, SnapStartRestoreError) {
  start(/*snap_start=*/true);
  TestClient c = client();
  c.send(get(kRestoreNext));
  expect_event(Kind::kRestoreReached);
  server_->complete_restore();
  EXPECT_EQ(c.read_response().status, 200);
  std::string body = R"({"errorMessage":"hook failed","errorType":"Runtime.AfterRestoreError"})";
  ClientResponse r = c.request("POST", kRestoreError, body, "Lambda-Runtime-Function-Error-Type: Runtime.AfterRestoreError\r\n");
  EXPECT_EQ(r.status, 202);
  RuntimeEvent e = expect_event(Kind::kRestoreError);
  EXPECT_EQ(e.error_type, "Runtime.AfterRestoreError");
  EXPECT_EQ(e.body, body);
  EXPECT_EQ(c.request("GET", kNext).status, 403);
  EXPECT_EQ(c.request("POST", kRestoreError, body).status, 403);
}

TEST_F(RuntimeApiTest, RestoreNextOutsideSnapStartIsForbidden) {
  start(/*snap_start=*/false);
  TestClient c = client();
  ClientResponse r = c.request("GET", kRestoreNext);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("snap-start"), std::string::npos);
  EXPECT_THROW(server_->complete_restore(), Error);
  finish_init(c);
}

TEST_F(RuntimeApiTest, BadRequestsGetClearErrorsNotCrashes) {
  start();
  {
    TestClient c = client();
    c.send("THIS IS NOT HTTP\r\n\r\n");
    ClientResponse r = c.read_response();
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(nlohmann::json::parse(r.body).at("errorMessage").get<std::string>().find("request line"), std::string::npos);
    EXPECT_TRUE(c.closed_by_server());
  }
  {
    TestClient c = client();
    c.send("POST /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
    EXPECT_EQ(c.read_response().status, 400);
  }
  {
    TestClient c = client();
    c.send("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    EXPECT_EQ(c.read_response().status, 400);
  }
  TestClient c = client();
  EXPECT_EQ(c.request("GET", "/2018-06-01/runtime/invocation/abc/nothing").status, 404);
  EXPECT_EQ(c.request("GET", "/2020-01-01/extension/register").status, 404);
  ClientResponse r = c.request("POST", kNext, "x");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header_or("Allow"), "GET");
  EXPECT_EQ(c.request("GET", response_path("id")).status, 405);
  EXPECT_EQ(server_->state(), RuntimeState::kInit);
  finish_init(c);
}

TEST_F(RuntimeApiTest, ConnectionCloseIsHonoured) {
  start();
  TestClient c = client();
  ClientResponse r = c.request("GET", "/nothing", {}, "Connection: close\r\n");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.header_or("Connection"), "close");
  EXPECT_TRUE(c.closed_by_server());
}

TEST_F(RuntimeApiTest, PipelinedRequestsAreAnsweredInOrder) {
  start();
  TestClient c = client();
  c.send("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nPOST " + std::string(kInitError) +
         " HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(c.read_response().status, 404);
  EXPECT_EQ(c.read_response().status, 404);
  EXPECT_EQ(c.read_response().status, 202);
  expect_event(Kind::kInitError);
}

TEST_F(RuntimeApiTest, StopReleasesABlockedNext) {
  start();
  TestClient c = client();
  finish_init(c);
  server_->stop();
  EXPECT_EQ(server_->state(), RuntimeState::kStopped);
  // Either a 503 or a closed connection; never a hang.
  try {
    EXPECT_EQ(c.read_response().status, 503);
  } catch (const std::runtime_error&) {
  }
  EXPECT_THROW(server_->submit(make_invocation("late", "{}")), Error);
}

TEST_F(RuntimeApiTest, EventFdSignalsQueuedEvents) {
  start();
  pollfd p{server_->event_fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  TestClient c = client();
  c.send(get(kNext));
  p.revents = 0;
  ASSERT_EQ(::poll(&p, 1, 60000), 1);
  EXPECT_TRUE(server_->poll_event().has_value());
  p.revents = 0;
  EXPECT_EQ(::poll(&p, 1, 0), 0);
}

TEST(RuntimeApiServerStart, BindFailureIsAClearError) {
  RuntimeApiServer::Options o;
  o.port = 0;
  RuntimeApiServer a(o);
  a.start();
  o.port = a.port();
  RuntimeApiServer b(o);
  try {
    b.start();
    FAIL() << "second bind succeeded";
  } catch (const SystemError& e) {
    EXPECT_NE(std::string(e.what()).find("bind"), std::string::npos);
  }
  o.address = "localhost";
  RuntimeApiServer c(o);
  EXPECT_THROW(c.start(), Error);
}

}  // namespace
}  // namespace thaw::runtime_api
