#pragma once
// A raw-socket HTTP/1.1 client for the Runtime API tests: sends exactly the bytes a test
// writes (chunked bodies, trailers, odd headers) and parses what comes back.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "runtime-api/http_request_parser.h"

namespace thaw::runtime_api::test {

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  const std::string* header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (iequals(k, name)) return &v;
    return nullptr;
  }
  std::string header_or(std::string_view name, std::string fallback = "<absent>") const {
    const std::string* v = header(name);
    return v ? *v : fallback;
  }
};

class TestClient {
 public:
  explicit TestClient(std::uint16_t port) {
    fd_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd_) throw_errno("socket");
    // A safety net so a broken server fails the test instead of hanging it; no test relies on it.
    timeval tv{120, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw_errno("connect");
  }

  void send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) throw_errno("send");
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Reads one response (a 100 Continue counts as one). Throws at EOF.
  ClientResponse read_response() {
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) fill();
    std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    ClientResponse r;
    std::size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    if (!status_line.starts_with("HTTP/1.1 ")) throw std::runtime_error("bad status line: " + status_line);
    r.status = std::stoi(status_line.substr(9, 3));
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      std::size_t e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      std::string line = head.substr(pos, e - pos);
      auto colon = line.find(':');
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers.emplace_back(line.substr(0, colon), value);
      pos = e + 2;
    }
    if (r.status == 100) return r;
    std::size_t length = std::stoul(r.header_or("Content-Length", "0"));
    while (buffer_.size() < length) fill();
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }

  ClientResponse request(std::string_view method, std::string_view path, std::string_view body = {},
                         std::string_view extra_headers = {}) {
    std::string req = std::string(method) + " " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    req += extra_headers;
    if (method == "POST") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n";
    req += body;
    send(req);
    return read_response();
  }

  // True when the server has closed the connection (and sent nothing more).
  bool closed_by_server() {
    char c;
    ssize_t n = ::recv(fd_.get(), &c, 1, 0);
    return n == 0;
  }
  // True if a response (or EOF) is waiting right now; does not block.
  bool readable_now() {
    if (!buffer_.empty()) return true;
    pollfd p{fd_.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }
  int fd() const { return fd_.get(); }

 private:
  void fill() {
    char buf[65536];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0) throw_errno("recv");
    if (n == 0) throw std::runtime_error("connection closed by the server");
    buffer_.append(buf, static_cast<std::size_t>(n));
  }

  UniqueFd fd_;
  std::string buffer_;
};

}  // namespace thaw::runtime_api::test
