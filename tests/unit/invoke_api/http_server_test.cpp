// The server over real sockets: a thousand connections waiting on their answers at once (the
// handler holds every one until all have arrived, so none is served after another finished),
// keep-alive and pipelined requests answered in order, 100-continue, and malformed or oversized
// requests answered and closed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/unique_fd.h"
#include "invoke-api/http_server.h"

namespace thaw::api {
namespace {

UniqueFd connect_to(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(fd) << "socket: " << strerror(errno);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << "connect: " << strerror(errno);
  return fd;
}

void send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    ASSERT_GT(n, 0) << "send: " << strerror(errno);
    s.remove_prefix(size_t(n));
  }
}

// Reads until `responses` whole responses (each with a Content-Length) are in, or the peer closes.
std::string read_responses(int fd, int responses) {
  std::string got;
  char buf[65536];
  auto complete = [&] {
    size_t at = 0;
    for (int i = 0; i < responses; ++i) {
      size_t end = got.find("\r\n\r\n", at);
      if (end == std::string::npos) return false;
      size_t cl = got.find("Content-Length: ", at);
      size_t len = cl != std::string::npos && cl < end ? std::stoul(got.substr(cl + 16)) : 0;
      at = end + 4 + len;
      if (at > got.size()) return false;
    }
    return true;
  };
  while (!complete()) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, size_t(n));
  }
  return got;
}

bool peer_closed(int fd) {
  char c;
  return ::recv(fd, &c, 1, 0) == 0;
}

HttpResponse echo(const HttpRequest& r) {
  HttpResponse out;
  out.body = r.method + " " + r.target + " " + r.body;
  return out;
}

TEST(HttpServer, AThousandConnectionsWaitForTheirAnswersAtOnce) {
  constexpr int kClients = 1000;
  rlimit lim{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0);
  ASSERT_GE(lim.rlim_max, rlim_t(2 * kClients + 64)) << "this test needs " << 2 * kClients + 64 << " file descriptors";
  lim.rlim_cur = lim.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lim), 0);

  std::mutex mu;
  std::condition_variable all_in;
  std::vector<std::pair<HttpRequest, Responder>> pending;
  HttpServer server({.port = 0}, [&](HttpRequest r, Responder respond) {
    std::lock_guard lock(mu);
    pending.emplace_back(std::move(r), std::move(respond));
    if (pending.size() == kClients) all_in.notify_all();
  });
  std::vector<UniqueFd> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(connect_to(server.port()));
    send_all(clients.back().get(), "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  {
    std::unique_lock lock(mu);
    all_in.wait(lock, [&] { return pending.size() == kClients; });  // every request is in before any answer
  }
  EXPECT_EQ(server.connections(), unsigned(kClients));
  for (auto& [request, respond] : pending) respond(echo(request));
  for (int i = 0; i < kClients; ++i) {
    auto got = read_responses(clients[i].get(), 1);
    ASSERT_NE(got.find("HTTP/1.1 200 OK"), std::string::npos) << got;
    EXPECT_NE(got.find("GET /" + std::to_string(i) + " "), std::string::npos) << got;
  }
  server.stop();
  for (auto& c : clients) EXPECT_TRUE(peer_closed(c.get()));
}

TEST(HttpServer, KeepAliveAndPipelinedRequestsAreAnsweredInOrder) {
  HttpServer server({.port = 0}, [](HttpRequest r, Responder respond) {
    // Answered from other threads, the later ones sooner: the order on the wire is still the requests'.
    std::thread([r = std::move(r), respond = std::move(respond)] {
      if (r.target == "/1") std::this_thread::sleep_for(std::chrono::milliseconds(50));
      respond(echo(r));
    }).detach();
  });
  auto c = connect_to(server.port());
  send_all(c.get(), "POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcPOST /2 HTTP/1.1\r\nHost: x\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n");
  auto got = read_responses(c.get(), 2);
  auto first = got.find("POST /1 abc"), second = got.find("POST /2 de");
  ASSERT_NE(first, std::string::npos) << got;
  ASSERT_NE(second, std::string::npos) << got;
  EXPECT_LT(first, second);
  send_all(c.get(), "GET /3 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(read_responses(c.get(), 1).find("GET /3 "), std::string::npos);
}

TEST(HttpServer, ExpectContinueIsAnsweredBeforeTheBody) {
  HttpServer server({.port = 0}, [](HttpRequest r, Responder respond) { respond(echo(r)); });
  auto c = connect_to(server.port());
  send_all(c.get(), "PUT /c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  char buf[64] = {};
  ASSERT_GT(::recv(c.get(), buf, sizeof buf - 1, 0), 0);
  EXPECT_EQ(std::string(buf).rfind("HTTP/1.1 100 Continue\r\n", 0), 0u) << buf;
  send_all(c.get(), "body");
  EXPECT_NE(read_responses(c.get(), 1).find("PUT /c body"), std::string::npos);
}

TEST(HttpServer, MalformedAndOversizedRequestsAreAnsweredThenClosed) {
  HttpServer server({.port = 0, .limits = {.header_bytes = 1024, .body_bytes = 100}},
                    [](HttpRequest r, Responder respond) { respond(echo(r)); });
  struct Case {
    std::string wire, status;
  } cases[] = {
      {"NOT HTTP AT ALL\r\n\r\n", "400"},
      {"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n", "400"},
      {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n", "413"},
      {"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n", "431"},
  };
  for (const auto& c : cases) {
    auto fd = connect_to(server.port());
    send_all(fd.get(), c.wire);
    auto got = read_responses(fd.get(), 1);
    EXPECT_EQ(got.rfind("HTTP/1.1 " + c.status, 0), 0u) << c.wire.substr(0, 60) << " got " << got;
    EXPECT_NE(got.find("x-amzn-ErrorType"), std::string::npos) << got;
    EXPECT_TRUE(peer_closed(fd.get()));
  }
  // Still serving.
  auto fd = connect_to(server.port());
  send_all(fd.get(), "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(read_responses(fd.get(), 1).find("GET /ok "), std::string::npos);
}

TEST(HttpServer, AnAddressInUseOrMalformedIsAClearError) {
  HttpServer first({.port = 0}, [](HttpRequest r, Responder respond) { respond(echo(r)); });
  try {
    HttpServer second({.port = first.port()}, [](HttpRequest, Responder) {});
    ADD_FAILURE() << "two servers bound one port";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("bind"), std::string::npos) << e.what();
  }
  EXPECT_THROW(HttpServer({.address = "not-an-ip"}, [](HttpRequest, Responder) {}), std::exception);
}

}  // namespace
}  // namespace thaw::api
