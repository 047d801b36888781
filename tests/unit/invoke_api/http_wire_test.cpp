// One request from bytes, as the server's connections parse it; responses as they are written.
#include <gtest/gtest.h>

#include "invoke-api/http_wire.h"

namespace thaw::api {
namespace {

TEST(HttpWire, ARequestParsesWithItsHeadersAndBody) {
  auto p = parse_http_request("POST /2015-03-31/functions/f/invocations?Qualifier=1 HTTP/1.1\r\nHost: h\r\n"
                              "x-amz-log-type: Tail\r\nContent-Length: 2\r\n\r\n{}",
                              {});
  ASSERT_TRUE(p.request);
  EXPECT_EQ(p.request->method, "POST");
  EXPECT_EQ(p.request->target, "/2015-03-31/functions/f/invocations?Qualifier=1");
  EXPECT_EQ(p.request->header("X-Amz-Log-Type"), "Tail");
  EXPECT_EQ(p.request->body, "{}");
  EXPECT_TRUE(p.keep_alive);
  EXPECT_FALSE(parse_http_request("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", {}).request);  // not all in yet
}

TEST(HttpWire, TooLargeAndMalformedRequestsSayWhy) {
  auto big = parse_http_request("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", {.body_bytes = 10});
  ASSERT_TRUE(big.error);
  EXPECT_EQ(big.error->status, 413);
  auto bad = parse_http_request("GET / HTTP/9\r\n\r\n", {});
  ASSERT_TRUE(bad.error);
  EXPECT_EQ(bad.error->status, 400);
  auto r = parse_error_response(*big.error);
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("\"message\""), std::string::npos);
}

TEST(HttpWire, AResponseIsWrittenWithItsLengthAndConnectionState) {
  HttpResponse r;
  r.status = 202;
  r.set_header("x-amzn-RequestId", "id-1");
  r.body = "ok";
  auto wire = serialize_http_response(r, false);
  EXPECT_EQ(wire.rfind("HTTP/1.1 202 Accepted\r\n", 0), 0u) << wire;
  EXPECT_NE(wire.find("x-amzn-RequestId: id-1\r\n"), std::string::npos);
  EXPECT_NE(wire.find("Content-Length: 2\r\n"), std::string::npos);
  EXPECT_NE(wire.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(wire.substr(wire.size() - 2), "ok");
}

}  // namespace
}  // namespace thaw::api
