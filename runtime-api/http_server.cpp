#include "runtime-api/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/log.h"

namespace thaw::runtime_api {
namespace {

// Writes all of `parts`; false if the peer is gone.
bool send_all(int fd, std::string_view a, std::string_view b = {}) {
  while (!a.empty() || !b.empty()) {
    iovec iov[2] = {{const_cast<char*>(a.data()), a.size()}, {const_cast<char*>(b.data()), b.size()}};
    msghdr msg{};
    msg.msg_iov = a.empty() ? iov + 1 : iov;
    msg.msg_iovlen = a.empty() ? 1 : 2;
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    auto sent = static_cast<std::size_t>(n);
    std::size_t from_a = std::min(sent, a.size());
    a.remove_prefix(from_a);
    b.remove_prefix(sent - from_a);
  }
  return true;
}

// Closing a socket with unread input makes the kernel send RST, which can destroy the error
// response before the client reads it; so half-close and read what the client still sends
// (bounded in bytes and in idle time) before closing.
void linger_and_drain(int fd, const std::atomic<bool>& stopping) {
  ::shutdown(fd, SHUT_WR);
  char sink[16384];
  std::size_t drained = 0;
  while (!stopping && drained < (16u << 20)) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) return;
    ssize_t n = ::recv(fd, sink, sizeof sink, 0);
    if (n <= 0) return;
    drained += static_cast<std::size_t>(n);
  }
}

}  // namespace

HttpResponse HttpResponse::error(int status, std::string_view type, std::string_view message) {
  nlohmann::json j = {{"errorMessage", message}, {"errorType", type}};
  return json(status, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

HttpResponse HttpResponse::json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Request Entity Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string serialize_response_head(const HttpResponse& response, bool keep_alive) {
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " ";
  out += reason_phrase(response.status);
  out += "\r\n";
  for (const auto& [name, value] : response.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  return out;
}

HttpServer::HttpServer(Options options, Handler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(options_.port);
  if (::inet_pton(AF_INET, options_.address.c_str(), &addr.sin_addr) != 1) {
    throw Error("runtime API: not an IPv4 address: '" + options_.address + "'");
  }
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket", "AF_INET stream");
  int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) throw_errno("setsockopt", "SO_REUSEADDR");
  std::string where = options_.address + ":" + std::to_string(options_.port);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw_errno("bind", where);
  if (::listen(fd.get(), 64) != 0) throw_errno("listen", where);
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) throw_errno("getsockname", where);
  port_ = ntohs(addr.sin_port);
  wake_fd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_) throw_errno("eventfd", "HTTP server wake-up");
  listen_fd_ = std::move(fd);
  stopping_ = false;
  accept_thread_ = std::thread([this] { accept_loop(); });
}

void HttpServer::stop() {
  if (!accept_thread_.joinable()) return;
  stopping_ = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_.get(), &one, sizeof one);
  accept_thread_.join();
  listen_fd_.reset();
  std::list<std::unique_ptr<Connection>> connections;
  {
    std::lock_guard lock(mutex_);
    for (auto& c : connections_) ::shutdown(c->fd.get(), SHUT_RDWR);
    connections.swap(connections_);
  }
  for (auto& c : connections) c->thread.join();
}

void HttpServer::reap_finished() {
  std::list<std::unique_ptr<Connection>> finished;
  {
    std::lock_guard lock(mutex_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      auto next = std::next(it);
      if ((*it)->done) finished.splice(finished.end(), connections_, it);
      it = next;
    }
  }
  for (auto& c : finished) c->thread.join();
}

void HttpServer::accept_loop() {
  while (!stopping_) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("runtime API: poll: {}", std::strerror(errno));
      return;
    }
    if (stopping_) return;
    if (!(fds[0].revents & POLLIN)) continue;
    UniqueFd fd(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
        spdlog::warn("runtime API: accept4: {}", std::strerror(errno));
      continue;
    }
    reap_finished();
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lock(mutex_);
    if (connections_.size() >= options_.max_connections) {
      spdlog::warn("runtime API: refusing a connection: {} open already", connections_.size());
      continue;
    }
    auto connection = std::make_unique<Connection>();
    connection->fd = std::move(fd);
    Connection& c = *connection;
    connections_.push_back(std::move(connection));
    c.thread = std::thread([this, &c] { serve(c); });
  }
}

void HttpServer::serve(Connection& connection) {
  const int fd = connection.fd.get();
  HttpRequestParser parser(options_.limits);
  std::string buffer(64 * 1024, '\0');
  std::size_t begin = 0, end = 0;
  bool sent_continue = false;
  while (!stopping_) {
    if (begin == end) {
      ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      begin = 0;
      end = static_cast<std::size_t>(n);
    }
    begin += parser.feed(std::string_view(buffer).substr(begin, end - begin));
    if (parser.state() == HttpRequestParser::State::kError) {
      HttpResponse r =
          HttpResponse::error(parser.error_status(), "InvalidRequest", "malformed HTTP request: " + parser.error());
      send_all(fd, serialize_response_head(r, false), r.body);
      linger_and_drain(fd, stopping_);
      break;
    }
    if (parser.headers_done() && parser.request().expect_continue && !sent_continue) {
      sent_continue = true;
      if (!send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n")) break;
    }
    if (parser.state() != HttpRequestParser::State::kComplete) continue;
    HttpRequest request = parser.take_request();
    parser.reset();
    sent_continue = false;
    HttpResponse response;
    try {
      response = handler_(request);
    } catch (const std::exception& e) {
      spdlog::error("runtime API: {} {}: {}", request.method, request.target, e.what());
      response = HttpResponse::error(500, "InternalServerError", e.what());
    }
    bool keep_alive = request.keep_alive && !response.close && !stopping_;
    std::string_view body = request.method == "HEAD" ? std::string_view() : std::string_view(response.body);
    if (!send_all(fd, serialize_response_head(response, keep_alive), body) || !keep_alive) break;
  }
  ::shutdown(fd, SHUT_RDWR);
  connection.done = true;
}

}  // namespace thaw::runtime_api
