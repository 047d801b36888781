#include "invoke-api/http_server.h"

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <spdlog/spdlog.h>

#include "base/error.h"
#include "invoke-api/api_error.h"
#include "invoke-api/beast_http.h"

namespace thaw::api {

namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// What a read that ended with `ec` means: the peer went (or idled out), nothing to answer.
bool peer_gone(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
         ec == asio::error::connection_reset || ec == asio::error::eof || ec == asio::error::broken_pipe ||
         ec == http::error::partial_message;
}

}  // namespace

class Connection;

// Everything but the thread and the handler is touched on the I/O thread only.
struct ServerState {
  ServerOptions options;
  RequestHandler handler;
  // Before io: the connections io's queued handlers hold unregister here while io is destroyed.
  std::unordered_set<Connection*> open;
  std::atomic<unsigned> count{0};
  uint16_t port = 0;
  bool stopping = false;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  tcp::acceptor acceptor{io};
  asio::steady_timer retry{io};
  std::thread thread;

  void accept();
};

// One keep-alive connection: read a request, hand it over, write its answer, read the next.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, ServerState& server) : stream_(std::move(socket)), server_(server) {
    server_.open.insert(this);
    ++server_.count;
  }
  ~Connection() {
    server_.open.erase(this);
    --server_.count;
  }
  void start() { read_header(); }
  // At stop: a connection between requests closes now, one with an answer due after writing it.
  void close_when_idle() {
    if (busy_) return;  // respond() sees `stopping` and closes after the write
    close();
  }

 private:
  void read_header() {
    parser_.emplace();
    beast_http::apply_limits(*parser_, server_.options.limits);
    stream_.expires_after(server_.options.idle_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(error_code ec) {
    if (ec) return failed(ec);
    auto expect = parser_->get()[http::field::expect];
    if (!iequals(std::string_view(expect.data(), expect.size()), "100-continue")) return read_body();
    continue_ = {http::status::continue_, 11};
    http::async_write(stream_, continue_, [self = shared_from_this()](error_code ec, size_t) {
      if (ec) return self->close();
      self->read_body();
    });
  }

  void read_body() {
    stream_.expires_after(server_.options.idle_timeout);
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](error_code ec, size_t) { self->on_request(ec); });
  }

  void on_request(error_code ec) {
    if (ec) return failed(ec);
    stream_.expires_never();  // an Invoke may take 900 s to answer
    busy_ = true;
    auto answer = std::make_shared<Answer>(shared_from_this(), parser_->keep_alive());
    server_.handler(beast_http::from_beast(parser_->release()),
                    [answer](HttpResponse r) { answer->send(std::move(r)); });
  }

  // The one answer a request gets, from whichever thread the handler gives it on: written on
  // the I/O thread. A responder dropped unanswered still answers (500), so the connection,
  // which only the I/O thread may touch, never ends on another.
  class Answer {
   public:
    Answer(std::shared_ptr<Connection> c, bool keep_alive) : connection_(std::move(c)), keep_alive_(keep_alive) {}
    ~Answer() {
      if (connection_)
        deliver(error_response(ApiError("ServiceException", 500, "the server dropped the request unanswered")));
    }
    void send(HttpResponse r) {
      std::lock_guard lock(mu_);
      if (connection_) deliver(std::move(r));
    }

   private:
    void deliver(HttpResponse r) {
      auto c = std::move(connection_);
      auto executor = c->stream_.get_executor();
      asio::post(executor, [c = std::move(c), keep_alive = keep_alive_, r = std::move(r)]() mutable {
        c->respond(std::move(r), keep_alive);
      });
    }
    std::mutex mu_;
    std::shared_ptr<Connection> connection_;
    bool keep_alive_;
  };

  void failed(error_code ec) {
    if (peer_gone(ec)) return close();
    respond(parse_error_response(beast_http::parse_error_of(ec)), false);
  }

  void respond(HttpResponse r, bool keep_alive) {
    busy_ = true;
    keep_alive = keep_alive && !server_.stopping;
    response_ = beast_http::to_beast(std::move(r), keep_alive);
    stream_.expires_after(server_.options.idle_timeout);  // a client that stops reading is let go
    http::async_write(stream_, response_, [self = shared_from_this(), keep_alive](error_code ec, size_t) {
      self->busy_ = false;
      if (ec || !keep_alive || self->server_.stopping) return self->close();  // stop() came during the write
      self->read_header();
    });
  }

  void close() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  ServerState& server_;
  beast::flat_buffer buffer_;
  std::optional<beast_http::Parser> parser_;
  http::response<http::empty_body> continue_;
  beast_http::Response response_;
  bool busy_ = false;
};

struct HttpServer::Impl : ServerState {};

void ServerState::accept() {
  acceptor.async_accept(io, [this](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of file descriptors, most likely: wait rather than spin, and take the next.
      spdlog::warn("thaw serve: accepting a connection failed: {}", ec.message());
      retry.expires_after(std::chrono::milliseconds(100));
      retry.async_wait([this](error_code e) {
        if (!e) accept();
      });
      return;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);  // answers go out whole, not after a delayed ACK
    std::make_shared<Connection>(std::move(socket), *this)->start();
    accept();
  });
}

HttpServer::HttpServer(ServerOptions options, RequestHandler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  error_code ec;
  auto address = asio::ip::make_address(impl_->options.address, ec);
  if (ec) throw Error("cannot listen on '" + impl_->options.address + "': not an IPv4 or IPv6 address");
  tcp::endpoint endpoint(address, impl_->options.port);
  std::string where = impl_->options.address + ":" + std::to_string(impl_->options.port);
  auto& a = impl_->acceptor;
  if (a.open(endpoint.protocol(), ec); ec) throw Error("cannot listen on " + where + ": socket: " + ec.message());
  a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (a.bind(endpoint, ec); ec) throw Error("cannot listen on " + where + ": bind: " + ec.message());
  if (a.listen(asio::socket_base::max_listen_connections, ec); ec)
    throw Error("cannot listen on " + where + ": listen: " + ec.message());
  impl_->port = a.local_endpoint().port();
  impl_->accept();
  impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
}

HttpServer::~HttpServer() { stop(); }

uint16_t HttpServer::port() const { return impl_->port; }

unsigned HttpServer::connections() const { return impl_->count.load(); }

void HttpServer::stop_accepting() {
  asio::post(impl_->io, [impl = impl_.get()] {
    error_code ignored;
    impl->acceptor.close(ignored);
    impl->retry.cancel();
  });
}

void HttpServer::stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    impl->stopping = true;
    error_code ignored;
    impl->acceptor.close(ignored);
    impl->retry.cancel();
    for (auto* c : std::vector<Connection*>(impl->open.begin(), impl->open.end())) c->close_when_idle();
  });
  impl_->work.reset();  // run() returns once the last connection is closed
  impl_->thread.join();
}

}  // namespace thaw::api
