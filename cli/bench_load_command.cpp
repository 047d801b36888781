// thaw bench load [--clients 1,8,32] [--requests N] [--scale-out N] [--events N] [--json]: thaw
// serve under load, every figure from one run through the Lambda API of an in-process server
// (as `thaw serve` runs it), C clients each on its own keep-alive connection:
//  - scale-out from zero: N clients invoke at once a function with no sandbox, restored from its
//    SnapStart version vs cold-started ($LATEST); new sandboxes per second;
//  - sustained requests/s and p50/p99 latency at each client count, on warm sandboxes;
//  - asynchronous invocations: Events accepted per second (each fsynced before its 202) and
//    delivered per second by the event workers.
// python-hello at 256 MB (needs KVM).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "cli/bench_http.h"
#include "cli/commands.h"
#include "thaw/engine.h"

namespace thaw::cli {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct BenchLoadOptions {
  std::vector<unsigned> clients{1, 8, 32};
  unsigned requests = 300;   // per client count
  unsigned scale_out = 8;    // clients that invoke at once a function without sandboxes
  unsigned events = 400;     // asynchronous invocations
  unsigned event_clients = 8;
  std::string work;
  bool json = false;
};

constexpr const char* kFunction = "load";
// The python3.11 image's initramfs does not unpack in a 128 MB guest.
constexpr unsigned kMemoryMb = 256;
const std::string kPayload = R"({"bench": "load"})";

void progress(const std::string& what) { std::fprintf(stderr, "bench load: %s\n", what.c_str()); }

nlohmann::json latency_json(const Measured& m) {
  return {{"p50_ms", m.latency.median()}, {"p99_ms", m.latency.percentile(99)}, {"n", m.requests()}};
}

// The function and its SnapStart version 1, on an engine whose budgets fit a software CPU
// that starts many sandboxes at once (where there is no /dev/kvm).
std::unique_ptr<Engine> open_engine(const BenchLoadOptions& o) {
  fs::remove_all(o.work);
  EngineOptions eo;
  eo.data_dir = (fs::path(o.work) / "data").string();
  eo.init_timeout = std::chrono::seconds(600);
  eo.restore_timeout = std::chrono::seconds(600);
  eo.boot_allowance = std::chrono::seconds(300);
  auto engine = std::make_unique<Engine>(eo);
  FunctionSettings s;
  s.runtime = "python3.11";
  s.memory_mb = kMemoryMb;
  s.timeout_s = 60;
  s.snap_start = SnapStartApplyOn::kPublishedVersions;
  progress("creating python-hello (" + std::to_string(kMemoryMb) + " MB) and publishing version 1 (SnapStart snapshot)");
  engine->create_function(kFunction, s, {.directory = installed_or_built(THAW_INSTALL_DATADIR "/thaw/examples",
                                                                         THAW_EXAMPLES_DIR) + "/python-hello"});
  engine->wait_until_ready(kFunction);
  auto v1 = engine->publish_version(kFunction);
  engine->wait_until_ready(kFunction, v1.version);
  return engine;
}

// One burst of `clients` first invocations of a qualifier with no sandbox: version 1 restores
// from its SnapStart snapshot, $LATEST starts cold.
nlohmann::json scale_out(Engine& engine, const InProcessApi& server, unsigned clients, const std::string& qualifier) {
  const bool restored = qualifier != "$LATEST";
  engine.release_idle_sandboxes(kFunction);
  std::vector<std::unique_ptr<api::HttpClient>> connections;
  for (unsigned c = 0; c < clients; ++c) connections.push_back(server.connect());
  auto before = engine.stats();
  Measured m;
  round(clients, 1, m, [&](unsigned c) { invoke_over(*connections[c], kFunction, kPayload, qualifier); });
  auto after = engine.stats();
  uint64_t started = restored ? after.sandboxes_restored - before.sandboxes_restored
                              : after.sandboxes_started_cold - before.sandboxes_started_cold;
  auto j = latency_json(m);
  j["qualifier"] = qualifier;
  j["new_sandboxes"] = started;
  j["seconds"] = m.seconds;
  j["new_sandboxes_per_s"] = m.seconds > 0 ? double(started) / m.seconds : 0;
  return j;
}

// Requests/s and latency at each client count, every client with a warm sandbox of version 1.
nlohmann::json warm_rows(Engine& engine, const InProcessApi& server, const BenchLoadOptions& o) {
  engine.release_idle_sandboxes(kFunction);
  unsigned most = *std::max_element(o.clients.begin(), o.clients.end());
  progress("restoring " + std::to_string(most) + " warm sandboxes of version 1");
  std::vector<std::unique_ptr<api::HttpClient>> connections;
  for (unsigned c = 0; c < most; ++c) connections.push_back(server.connect());
  Measured warmup;
  round(most, 2, warmup, [&](unsigned c) { invoke_over(*connections[c], kFunction, kPayload, "1"); });
  nlohmann::json rows = nlohmann::json::array();
  for (unsigned clients : o.clients) {
    progress(std::to_string(clients) + " client(s) at once, " + std::to_string(o.requests) + " requests");
    Measured m;
    unsigned per_client = std::max(1u, (o.requests + clients - 1) / clients);
    round(clients, per_client, m, [&](unsigned c) { invoke_over(*connections[c], kFunction, kPayload, "1"); });
    auto j = latency_json(m);
    j["clients"] = clients;
    j["requests_per_s"] = m.per_second();
    rows.push_back(j);
  }
  return rows;
}

// Events onto version 1 from several clients: accepted (202, fsynced) per second, and
// delivered per second counted from the first submission to the last success.
nlohmann::json async_throughput(Engine& engine, const InProcessApi& server, const BenchLoadOptions& o) {
  progress(std::to_string(o.events) + " asynchronous invocations from " + std::to_string(o.event_clients) + " clients");
  std::vector<std::unique_ptr<api::HttpClient>> connections;
  for (unsigned c = 0; c < o.event_clients; ++c) connections.push_back(server.connect());
  uint64_t done_before = engine.async_stats().succeeded;
  unsigned per_client = (o.events + o.event_clients - 1) / o.event_clients;
  unsigned total = per_client * o.event_clients;
  auto t0 = Clock::now();
  Measured accepted;
  round(o.event_clients, per_client, accepted,
        [&](unsigned c) { invoke_over(*connections[c], kFunction, kPayload, "1", /*event=*/true); });
  auto deadline = Clock::now() + std::chrono::minutes(20);
  for (;;) {
    auto st = engine.async_stats();
    if (st.succeeded - done_before >= total) break;
    if (st.failed || st.dropped) throw Error("bench load: " + std::to_string(st.failed) + " event(s) failed");
    if (Clock::now() > deadline) throw Error("bench load: the events were not delivered within 20 minutes");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  double delivered_s = ms_since(t0) / 1000;
  auto j = latency_json(accepted);
  j["events"] = total;
  j["clients"] = o.event_clients;
  j["accepted_per_s"] = accepted.per_second();
  j["delivered_per_s"] = delivered_s > 0 ? total / delivered_s : 0;
  j["delivered_seconds"] = delivered_s;
  return j;
}

void print_table(const nlohmann::json& r) {
  const auto& so = r["scale_out"];
  std::printf("bench load: python-hello (%u MB) through thaw serve's Lambda API, one connection per client\n",
              r["memory_mb"].get<unsigned>());
  std::printf("  scale-out from zero, %u clients at once:\n", so["clients"].get<unsigned>());
  for (const char* side : {"restored", "cold"}) {
    const auto& s = so[side];
    std::printf("    %-9s %-9s %3u new sandboxes in %7.2f s: %6.2f /s   first invoke p50 %8.1f ms  p99 %8.1f ms\n",
                side, s["qualifier"].get<std::string>().c_str(), s["new_sandboxes"].get<unsigned>(),
                s["seconds"].get<double>(), s["new_sandboxes_per_s"].get<double>(), s["p50_ms"].get<double>(),
                s["p99_ms"].get<double>());
  }
  std::printf("    restored / cold scale-out rate: %.1fx\n", so["restored_over_cold"].get<double>());
  std::printf("  warm sandboxes (version 1):\n    %7s  %10s  %9s  %9s  %6s\n", "clients", "requests/s", "p50 ms",
              "p99 ms", "n");
  for (const auto& w : r["warm"])
    std::printf("    %7u  %10.1f  %9.2f  %9.2f  %6u\n", w["clients"].get<unsigned>(), w["requests_per_s"].get<double>(),
                w["p50_ms"].get<double>(), w["p99_ms"].get<double>(), w["n"].get<unsigned>());
  const auto& a = r["async"];
  std::printf("  asynchronous (Event, version 1, %u clients): %u events accepted at %.1f /s (fsynced; 202 p50 %.2f ms, "
              "p99 %.2f ms), delivered at %.1f /s\n",
              a["clients"].get<unsigned>(), a["events"].get<unsigned>(), a["accepted_per_s"].get<double>(),
              a["p50_ms"].get<double>(), a["p99_ms"].get<double>(), a["delivered_per_s"].get<double>());
}

int run_bench_load(const BenchLoadOptions& o) {
  auto engine = open_engine(o);
  auto server = std::make_unique<InProcessApi>(*engine);
  progress("scale-out: " + std::to_string(o.scale_out) + " clients at once, restored (version 1) then cold ($LATEST)");
  nlohmann::json so{{"clients", o.scale_out}};
  so["restored"] = scale_out(*engine, *server, o.scale_out, "1");
  so["cold"] = scale_out(*engine, *server, o.scale_out, "$LATEST");
  double cold_rate = so["cold"]["new_sandboxes_per_s"].get<double>();
  so["restored_over_cold"] = cold_rate > 0 ? so["restored"]["new_sandboxes_per_s"].get<double>() / cold_rate : 0;
  nlohmann::json result{{"function", "python-hello"}, {"memory_mb", kMemoryMb}, {"scale_out", so}};
  result["warm"] = warm_rows(*engine, *server, o);
  result["async"] = async_throughput(*engine, *server, o);
  server.reset();
  engine->shutdown();
  if (o.json)
    std::cout << result.dump(2) << std::endl;
  else
    print_table(result);
  return 0;
}

}  // namespace

Command add_bench_load_command(CLI::App& app) {
  CLI::App* bench = bench_group(app);
  auto* sub = bench->add_subcommand(
      "load", "thaw serve under load: scale-out from zero, warm requests/s at 1, 8 and 32 clients, async events/s");
  auto o = std::make_shared<BenchLoadOptions>();
  o->work = (exe_dir() / "bench-load").string();
  sub->add_option("--clients", o->clients, "client counts for the warm rows (each gets a warm sandbox)")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  sub->add_option("--requests", o->requests, "invocations per warm row")->capture_default_str()->check(CLI::Range(10, 1000000));
  sub->add_option("--scale-out", o->scale_out, "clients that invoke at once a function without sandboxes")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  sub->add_option("--events", o->events, "asynchronous invocations")->capture_default_str()->check(CLI::Range(1, 1000000));
  sub->add_option("--event-clients", o->event_clients, "clients submitting the events")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  sub->add_option("--work", o->work, "a scratch data directory (deleted first)")->capture_default_str();
  sub->add_flag("--json", o->json, "print one JSON object");
  return {sub, true, [o] { return run_bench_load(*o); }};
}

}  // namespace thaw::cli
