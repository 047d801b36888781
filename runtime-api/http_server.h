#pragma once
// A small HTTP/1.1 server over IPv4 TCP: one thread per connection, keep-alive, pipelining,
// Expect: 100-continue, chunked request bodies (HttpRequestParser). Built for the Runtime API,
// which has a handful of connections whose requests may block for a long time (long poll);
// a thread per connection keeps those handlers plain blocking code. No DNS, no TLS, nothing
// dynamic: it links into the static guest agent.
#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "runtime-api/http_request_parser.h"

namespace thaw::runtime_api {

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Length is added
  std::string body;
  bool close = false;  // close the connection after this response

  // {"errorMessage": message, "errorType": type}, the shape Lambda's APIs answer errors in.
  static HttpResponse error(int status, std::string_view type, std::string_view message);
  static HttpResponse json(int status, std::string body);
};

std::string_view reason_phrase(int status);
// Status line and headers (with Content-Length and Connection), ending in the blank line.
std::string serialize_response_head(const HttpResponse& response, bool keep_alive);

class HttpServer {
 public:
  // Called on the connection's thread, one request at a time per connection; may block (the
  // owner must unblock it before stop()). An exception becomes a 500.
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  struct Options {
    std::string address = "127.0.0.1";  // IPv4 dotted quad
    std::uint16_t port = 0;             // 0: any free port (see port())
    HttpLimits limits;
    std::size_t max_connections = 64;   // more are closed at once
  };

  HttpServer(Options options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts accepting. Throws SystemError (e.g. bind: Address in use).
  void start();
  // Closes the listener and every connection and joins their threads. Idempotent.
  void stop();
  std::uint16_t port() const { return port_; }

 private:
  struct Connection {
    UniqueFd fd;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  void accept_loop();
  void serve(Connection& connection);
  void reap_finished();

  Options options_;
  Handler handler_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // eventfd: wakes the accept loop on stop()
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mutex_;  // guards connections_
  std::list<std::unique_ptr<Connection>> connections_;
};

}  // namespace thaw::runtime_api
