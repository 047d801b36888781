// The incremental HTTP/1.1 request parser: framing (Content-Length, chunked with trailers),
// arbitrary splits, limits, and every malformed input ending in a clear error.
#include "runtime-api/http_request_parser.h"

#include <gtest/gtest.h>

#include <string>

#include "runtime-api/http_server.h"

namespace thaw::runtime_api {
namespace {

using State = HttpRequestParser::State;

// Feeds `wire` in pieces of `step` bytes; returns the parser after the first request ends.
HttpRequestParser parse(std::string_view wire, std::size_t step = 0, HttpLimits limits = {}) {
  HttpRequestParser p(limits);
  if (step == 0) step = wire.size() ? wire.size() : 1;
  std::size_t pos = 0;
  while (pos < wire.size() && (p.state() == State::kHeaders || p.state() == State::kBody)) {
    std::size_t n = std::min(step, wire.size() - pos);
    std::size_t used = p.feed(wire.substr(pos, n));
    pos += used;
    if (used < n) break;
  }
  return p;
}

TEST(HttpRequestParser, SimpleGet) {
  auto p = parse("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1:9001\r\nUser-Agent: x\r\n\r\n");
  ASSERT_EQ(p.state(), State::kComplete);
  const HttpRequest& r = p.request();
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/2018-06-01/runtime/invocation/next");
  EXPECT_EQ(r.version_minor, 1);
  EXPECT_TRUE(r.keep_alive);
  ASSERT_NE(r.header("host"), nullptr);
  EXPECT_EQ(*r.header("HOST"), "127.0.0.1:9001");
  EXPECT_EQ(r.header("missing"), nullptr);
  EXPECT_TRUE(r.body.empty());
}

TEST(HttpRequestParser, ContentLengthBodyIdenticalForEverySplit) {
  std::string wire = "POST /r HTTP/1.1\r\nContent-Length: 11\r\nX-A:  spaced value \t\r\n\r\nhello world";
  for (std::size_t step : {1, 2, 3, 7, 16, 1000}) {
    auto p = parse(wire, step);
    ASSERT_EQ(p.state(), State::kComplete) << step;
    EXPECT_EQ(p.request().body, "hello world");
    EXPECT_EQ(*p.request().header("x-a"), "spaced value");
  }
}

TEST(HttpRequestParser, ChunkedBodyWithExtensionsAndTrailers) {
  std::string wire =
      "POST /r HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4;name=value\r\nWiki\r\n5\r\npedia\r\nE \r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: t1\r\nX-Other: t2\r\n\r\n";
  for (std::size_t step : {1, 5, 64, 4096}) {
    auto p = parse(wire, step);
    ASSERT_EQ(p.state(), State::kComplete) << step << " " << p.error();
    const HttpRequest& r = p.request();
    EXPECT_TRUE(r.chunked);
    EXPECT_EQ(r.body, "Wikipedia in\r\n\r\nchunks.");
    ASSERT_EQ(r.trailers.size(), 2u);
    EXPECT_EQ(r.trailers[0].first, "X-Trailer");
    EXPECT_EQ(r.trailers[1].second, "t2");
  }
}

TEST(HttpRequestParser, BareLineFeedsAreAccepted) {
  auto p = parse("POST /r HTTP/1.1\nContent-Length: 2\n\nok");
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.request().body, "ok");
}

TEST(HttpRequestParser, PipelinedRequestsAndReset) {
  std::string wire = "\r\nGET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 1\r\n\r\nxGET /c HTTP/1.0\r\n\r\n";
  HttpRequestParser p;
  std::string_view rest = wire;
  std::vector<std::string> targets;
  while (!rest.empty()) {
    rest.remove_prefix(p.feed(rest));
    ASSERT_EQ(p.state(), State::kComplete);
    targets.push_back(p.request().target);
    if (p.request().target == "/b") {
      EXPECT_EQ(p.request().body, "x");
    }
    if (p.request().target == "/c") {
      EXPECT_FALSE(p.request().keep_alive);
    }
    p.reset();
  }
  EXPECT_EQ(targets, (std::vector<std::string>{"/a", "/b", "/c"}));
}

TEST(HttpRequestParser, ConnectionHeaders) {
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").request().keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nConnection: TE, Close\r\n\r\n").request().keep_alive);
  EXPECT_TRUE(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").request().keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n").request().keep_alive);
}

TEST(HttpRequestParser, ExpectContinue) {
  HttpRequestParser p;
  p.feed("POST /r HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_TRUE(p.headers_done());
  EXPECT_EQ(p.state(), State::kBody);
  EXPECT_TRUE(p.request().expect_continue);
  p.feed("abc");
  EXPECT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(parse("POST /r HTTP/1.1\r\nExpect: something\r\n\r\n").error_status(), 417);
}

TEST(HttpRequestParser, OneMebibyteHeaderLineIsAcceptedLongerIsRefused) {
  std::string value(1 << 20, 'v');
  auto p = parse("GET / HTTP/1.1\r\nX-Big: " + value + "\r\n\r\n", 65536);
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_EQ(p.request().header("x-big")->size(), value.size());

  value.append(2048, 'v');
  p = parse("GET / HTTP/1.1\r\nX-Big: " + value + "\r\n\r\n", 65536);
  EXPECT_EQ(p.state(), State::kError);
  EXPECT_EQ(p.error_status(), 431);
  EXPECT_NE(p.error().find("line longer"), std::string::npos);

  p = parse("GET /" + value + " HTTP/1.1\r\n\r\n", 65536);
  EXPECT_EQ(p.error_status(), 414);
}

TEST(HttpRequestParser, HeaderSectionAndCountLimits) {
  HttpLimits small;
  small.max_header_bytes = 100;
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nA: " + std::string(200, 'a') + "\r\n\r\n", 0, small).error_status(), 431);
  small = {};
  small.max_header_count = 2;
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 0, small).error_status(), 431);
}

TEST(HttpRequestParser, BodyAboveTheLimitIsCountedAndDropped) {
  HttpLimits limits;
  limits.max_body = 10;
  auto p = parse("POST /r HTTP/1.1\r\nContent-Length: 11\r\n\r\n01234567890", 3, limits);
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_TRUE(p.request().body_too_large);
  EXPECT_EQ(p.request().body_length, 11u);
  EXPECT_TRUE(p.request().body.empty());

  p = parse("POST /r HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", 3, limits);
  EXPECT_FALSE(p.request().body_too_large);
  EXPECT_EQ(p.request().body, "0123456789");

  p = parse("POST /r HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n5\r\n67890\r\n0\r\n\r\n", 4, limits);
  ASSERT_EQ(p.state(), State::kComplete);
  EXPECT_TRUE(p.request().body_too_large);
  EXPECT_EQ(p.request().body_length, 11u);
}

struct Malformed {
  const char* name;
  std::string wire;
  int status;
};

TEST(HttpRequestParser, MalformedInputIsAClearError) {
  const Malformed cases[] = {
      {"no version", "GET /\r\n\r\n", 400},
      {"extra space", "GET  / HTTP/1.1\r\n\r\n", 400},
      {"bad method", "G(T / HTTP/1.1\r\n\r\n", 400},
      {"control char in target", std::string("GET /\x01 HTTP/1.1\r\n\r\n"), 400},
      {"http/2", "GET / HTTP/2.0\r\n\r\n", 505},
      {"garbage version", "GET / FTP/1.1\r\n\r\n", 400},
      {"no colon", "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
      {"space before colon", "GET / HTTP/1.1\r\nName : v\r\n\r\n", 400},
      {"empty name", "GET / HTTP/1.1\r\n: v\r\n\r\n", 400},
      {"obs-fold", "GET / HTTP/1.1\r\nA: b\r\n  folded\r\n\r\n", 400},
      {"bare CR", "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400},
      {"NUL", std::string("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 26), 400},
      {"control in value", "GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", 400},
      {"bad content-length", "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400},
      {"negative content-length", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"huge content-length", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
      {"conflicting content-length", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"te and cl", "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"gzip te", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"bad chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400},
      {"empty chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400},
      {"huge chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", 400},
      {"chunk without crlf", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", 400},
      {"bad trailer", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", 400},
  };
  for (const auto& c : cases) {
    for (std::size_t step : {std::size_t{1}, std::size_t{0}}) {
      auto p = parse(c.wire, step);
      EXPECT_EQ(p.state(), State::kError) << c.name;
      EXPECT_EQ(p.error_status(), c.status) << c.name << ": " << p.error();
      EXPECT_FALSE(p.error().empty()) << c.name;
    }
  }
}

TEST(HttpResponse, SerializesStatusHeadersAndLength) {
  HttpResponse r = HttpResponse::error(403, "InvalidStateTransition", "no \"quotes\" here");
  EXPECT_EQ(r.body, R"({"errorMessage":"no \"quotes\" here","errorType":"InvalidStateTransition"})");
  std::string head = serialize_response_head(r, true);
  EXPECT_EQ(head,
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: " +
                std::to_string(r.body.size()) + "\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_NE(serialize_response_head(r, false).find("Connection: close\r\n"), std::string::npos);
}

}  // namespace
}  // namespace thaw::runtime_api
