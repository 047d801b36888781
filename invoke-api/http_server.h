#pragma once
// The HTTP/1.1 server of `thaw serve`: asynchronous (Boost.Asio/Beast), one I/O thread, any
// number of keep-alive connections; a connection costs a socket and a buffer, never a thread.
// Each request read whole goes to the handler, which answers through its responder from any
// thread (the API runs on a BlockingPool); the connection reads its next request only once the
// answer is written (HTTP/1.1 answers in order).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "invoke-api/http_message.h"
#include "invoke-api/http_wire.h"

namespace thaw::api {

struct ServerOptions {
  std::string address = "127.0.0.1";  // an IPv4 or IPv6 address
  uint16_t port = 9000;                // 0: any free port (see HttpServer::port)
  HttpLimits limits{};
  // A connection that sends nothing for this long (between requests, or while sending one) is
  // closed; one waiting for its answer never is.
  std::chrono::seconds idle_timeout = std::chrono::seconds(300);
};

using Responder = std::function<void(HttpResponse)>;
using RequestHandler = std::function<void(HttpRequest, Responder)>;

class HttpServer {
 public:
  // Binds and listens (thaw::Error saying which address could not be had, and why), and starts
  // the I/O thread.
  HttpServer(ServerOptions options, RequestHandler handler);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  unsigned connections() const;
  // Takes no more connections; those open keep being served.
  void stop_accepting();
  // Closes every connection once its answer (if one is due) is written, and joins the I/O
  // thread. Answers still to come are dropped with their connections: drain the handler first.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace thaw::api
