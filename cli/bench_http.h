#pragma once
// What the benchmarks that drive thaw serve's Lambda API share: an in-process server (the
// HTTP server, blocking pool and Lambda API of `thaw serve`, on an ephemeral port of
// 127.0.0.1), an Invoke over one keep-alive connection, and rounds of clients calling at once.
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cli/bench_stats.h"
#include "invoke-api/http_client.h"

namespace thaw {
class Engine;
}

namespace thaw::cli {

// `thaw serve` in this process, over `engine`, until destroyed (which drains what it runs).
class InProcessApi {
 public:
  explicit InProcessApi(Engine& engine);
  ~InProcessApi();
  InProcessApi(const InProcessApi&) = delete;
  InProcessApi& operator=(const InProcessApi&) = delete;
  uint16_t port() const;
  std::unique_ptr<api::HttpClient> connect() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// An Invoke of `function` (RequestResponse, or Event with `event`) over one connection; throws
// thaw::Error with the response unless it is 200 without a function error (202 for Event).
void invoke_over(api::HttpClient& client, const std::string& function, const std::string& payload,
                 const std::string& qualifier = {}, bool event = false);

// The latencies of a run of rounds, and their wall time together.
struct Measured {
  Series latency;
  double seconds = 0;
  unsigned requests() const { return unsigned(latency.v.size()); }
  double per_second() const { return seconds > 0 ? requests() / seconds : 0; }
};

// `clients` threads at once, each timing `per_client` calls of `once(thread index)`; the first
// failure is rethrown once every thread has finished.
template <typename F>
void round(unsigned clients, unsigned per_client, Measured& m, F&& once) {
  std::mutex mu;
  std::vector<std::thread> threads;
  std::exception_ptr failure;
  auto t0 = std::chrono::steady_clock::now();
  for (unsigned c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      std::vector<double> mine;
      try {
        for (unsigned i = 0; i < per_client; ++i) {
          auto t = std::chrono::steady_clock::now();
          once(c);
          mine.push_back(ms_since(t));
        }
      } catch (...) {
        std::lock_guard lock(mu);
        if (!failure) failure = std::current_exception();
      }
      std::lock_guard lock(mu);
      m.latency.v.insert(m.latency.v.end(), mine.begin(), mine.end());
    });
  for (auto& t : threads) t.join();
  m.seconds += ms_since(t0) / 1000;
  if (failure) std::rethrow_exception(failure);
}

}  // namespace thaw::cli
