// thaw bench api [--clients 1,8,64] [--requests N] [--json]: what `thaw serve`'s HTTP layer adds
// to a warm invoke, measured side by side in one run. The same function, with a warm sandbox for
// every client, is invoked by C client threads at once, each through its own keep-alive
// connection to an in-process server (the server, pool and Lambda API of `thaw serve`), and by
// C threads calling thaw::Engine::invoke directly; rounds of the two alternate. Per client
// count: p50/p99 of each, the added latency, and requests/s (needs KVM).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "cli/bench_http.h"
#include "cli/commands.h"
#include "thaw/engine.h"

namespace thaw::cli {
namespace {
namespace fs = std::filesystem;

struct BenchApiOptions {
  std::vector<unsigned> clients{1, 8, 64};
  unsigned requests = 200;  // per client count and path
  std::string work;
  bool json = false;
};

void progress(const std::string& what) { std::fprintf(stderr, "bench api: %s\n", what.c_str()); }

const std::string kPayload = R"({"bench": "api"})";

void check(const InvokeResult& r) {
  if (!r.function_error.empty()) throw Error("bench api: the invocation failed: " + r.error_type + " " + r.payload);
}

nlohmann::json row_json(unsigned clients, const Measured& direct, const Measured& http) {
  auto side = [](const Measured& m) {
    return nlohmann::json{{"p50_ms", m.latency.median()},
                          {"p99_ms", m.latency.percentile(99)},
                          {"requests_per_s", m.per_second()},
                          {"n", m.requests()}};
  };
  double added = http.latency.median() - direct.latency.median();
  return {{"clients", clients},
          {"engine", side(direct)},
          {"http", side(http)},
          {"added_p50_ms", added},
          {"added_p99_ms", http.latency.percentile(99) - direct.latency.percentile(99)},
          {"added_p50_percent", direct.latency.median() > 0 ? 100 * added / direct.latency.median() : 0}};
}

int run_bench_api(const BenchApiOptions& o) {
  fs::remove_all(o.work);
  EngineOptions eo;
  eo.data_dir = (fs::path(o.work) / "data").string();
  eo.init_timeout = std::chrono::seconds(60);  // a software CPU, where there is no /dev/kvm
  eo.boot_allowance = std::chrono::seconds(300);
  Engine engine(eo);
  FunctionSettings s;
  s.runtime = "python3.11";
  s.timeout_s = 60;   // a software CPU shared by many sandboxes, where there is no /dev/kvm
  progress("creating the function (python-hello, 256 MB)");
  engine.create_function("bench", s, {.directory = installed_or_built(THAW_INSTALL_DATADIR "/thaw/examples",
                                                                      THAW_EXAMPLES_DIR) + "/python-hello"});
  engine.wait_until_ready("bench");

  auto server = std::make_unique<InProcessApi>(engine);
  unsigned most = *std::max_element(o.clients.begin(), o.clients.end());
  progress("starting " + std::to_string(most) + " warm sandboxes");
  Measured warmup;
  round(most, 2, warmup, [&](unsigned) { check(engine.invoke({.function = "bench", .payload = kPayload})); });

  nlohmann::json rows = nlohmann::json::array();
  for (unsigned clients : o.clients) {
    progress(std::to_string(clients) + " client(s) at once: alternating rounds through HTTP and through the engine");
    std::vector<std::unique_ptr<api::HttpClient>> connections;
    for (unsigned c = 0; c < clients; ++c) connections.push_back(server->connect());
    Measured direct, http;
    unsigned per_round = std::max(1u, 10u / clients + 1);
    while (direct.requests() < o.requests || http.requests() < o.requests) {
      round(clients, per_round, http, [&](unsigned c) { invoke_over(*connections[c], "bench", kPayload); });
      round(clients, per_round, direct, [&](unsigned) { check(engine.invoke({.function = "bench", .payload = kPayload})); });
    }
    rows.push_back(row_json(clients, direct, http));
  }
  server.reset();

  if (o.json) {
    std::cout << nlohmann::json{{"function", "python-hello"}, {"rows", rows}}.dump(2) << std::endl;
    return 0;
  }
  std::printf("bench api: warm invokes of python-hello, through thaw serve's HTTP layer vs thaw::Engine directly\n");
  std::printf("  %7s  %21s  %21s  %17s  %19s\n", "clients", "engine p50 / p99 ms", "HTTP p50 / p99 ms",
              "added p50 ms (%)", "req/s engine / HTTP");
  for (const auto& r : rows)
    std::printf("  %7u  %9.2f / %9.2f  %9.2f / %9.2f  %8.2f (%+5.1f %%)  %8.0f / %8.0f\n", r["clients"].get<unsigned>(),
                r["engine"]["p50_ms"].get<double>(), r["engine"]["p99_ms"].get<double>(), r["http"]["p50_ms"].get<double>(),
                r["http"]["p99_ms"].get<double>(), r["added_p50_ms"].get<double>(), r["added_p50_percent"].get<double>(),
                r["engine"]["requests_per_s"].get<double>(), r["http"]["requests_per_s"].get<double>());
  return 0;
}

}  // namespace

Command add_bench_api_command(CLI::App& app) {
  CLI::App* bench = bench_group(app);
  auto* sub = bench->add_subcommand("api", "what thaw serve's HTTP layer adds to warm invokes, at 1, 8 and 64 clients");
  auto o = std::make_shared<BenchApiOptions>();
  o->work = (exe_dir() / "bench-api").string();
  sub->add_option("--clients", o->clients, "client counts to measure (each gets as many warm sandboxes)")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  sub->add_option("--requests", o->requests, "invocations per client count and path")
      ->capture_default_str()
      ->check(CLI::Range(10, 1000000));
  sub->add_option("--work", o->work, "a scratch data directory (deleted first)")->capture_default_str();
  sub->add_flag("--json", o->json, "print one JSON object");
  return {sub, true, [o] { return run_bench_api(*o); }};
}

}  // namespace thaw::cli
