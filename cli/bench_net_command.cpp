// thaw bench net [--json]: what a sandbox's network costs, measured side by side in one run.
//  - TCP throughput from a sandbox to a server on the host, vs the same client run on the host
//    (over loopback): examples/functions/python-netbench, as a function and as a script;
//  - request/response round trips to Redis (Debian's redis-server) from a warm sandbox, vs the
//    same client on the host;
//  - a new sandbox restored from a SnapStart snapshot with a network (its namespace taken from
//    the engine's pool) vs the same function without one.
// The run happens in a network namespace of its own (the servers listen on 198.19.0.1 on its
// loopback, the sandboxes' uplinks are made there), so the host's networks see none of it.
// Needs root and KVM.
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/child_process.h"
#include "base/error.h"
#include "base/ip_interface.h"
#include "base/unique_fd.h"
#include "cli/bench_stats.h"
#include "cli/bench_tcp_sink.h"
#include "cli/commands.h"
#include "guest/image/host_command.h"
#include "thaw/engine.h"

namespace thaw::cli {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr const char* kServerAddress = "198.19.0.1";  // RFC 2544's benchmarking range
constexpr uint16_t kSinkPort = 5201, kRedisPort = 6379;

struct BenchNetOptions {
  unsigned reps = 5;
  unsigned mib = 32;
  unsigned pings = 200;
  uint64_t tx_rate = 0;
  std::string work;
  bool json = false;
};

void progress(const std::string& what) { std::fprintf(stderr, "bench net: %s\n", what.c_str()); }

std::string destination(uint16_t port) { return std::string(kServerAddress) + ":" + std::to_string(port); }

void enter_own_network_namespace() {
  if (::unshare(CLONE_NEWNET) != 0) throw_errno("unshare(CLONE_NEWNET)", "bench net runs as root");
  set_interface_up("lo");
  set_interface_address("lo:bench", kServerAddress, 32);
}

// Sends PING on a new connection; true on +PONG.
bool redis_answers() {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = ipv4_endpoint(kServerAddress, kRedisPort);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return false;
  const std::string ping = "PING\r\n";
  if (::send(s.get(), ping.data(), ping.size(), MSG_NOSIGNAL) != ssize_t(ping.size())) return false;
  char reply[16] = {};
  return ::recv(s.get(), reply, sizeof reply - 1, 0) > 0 && std::string_view(reply).starts_with("+PONG");
}

std::unique_ptr<ChildProcess> start_redis(const fs::path& work) {
  if (!fs::exists("/usr/bin/redis-server"))
    throw Error("bench net: /usr/bin/redis-server is missing (apt-get install redis-server; scripts/install-deps.sh does)");
  auto redis = std::make_unique<ChildProcess>(
      std::vector<std::string>{"/usr/bin/redis-server", "--bind", kServerAddress, "--port", std::to_string(kRedisPort),
                               "--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", work.string()},
      (work / "redis.log").string());
  redis->wait_until_up("bench net: redis-server", std::chrono::minutes(2), redis_answers);
  return redis;
}

// The client as a function in a sandbox, and as a script on the host.
struct Client {
  Engine& engine;
  std::string code;

  json in_sandbox(const std::string& function, const json& event, InvokeResult* out = nullptr) const {
    auto r = engine.invoke({.function = function, .payload = event.dump()});
    if (!r.function_error.empty()) throw Error("bench net: " + function + " failed: " + r.error_type + " " + r.payload);
    if (out) *out = r;
    return json::parse(r.payload);
  }
  json on_host(const json& event) const {
    auto r = image::run_host_command({"/usr/bin/python3", code + "/lambda_function.py", event.dump()});
    if (r.exit_status != 0) throw Error("bench net: the client on the host failed (exit " + std::to_string(r.exit_status) + ")");
    return json::parse(r.out);
  }
};

double mib_per_s(const TcpSink::Run& run) { return run.ms > 0 ? double(run.bytes) / (1 << 20) / (run.ms / 1000) : 0; }

// MiB/s of each run, sandbox and host alternating so that the machine's moods fall on both.
std::pair<Series, Series> measure_throughput(const BenchNetOptions& o, const Client& client, TcpSink& sink) {
  json event = {{"op", "send"}, {"host", kServerAddress}, {"port", kSinkPort}, {"bytes", uint64_t(o.mib) << 20}};
  Series sandbox, host;
  for (unsigned i = 0; i < o.reps; ++i) {
    for (auto* series : {&sandbox, &host}) {
      json r = series == &sandbox ? client.in_sandbox("net:1", event) : client.on_host(event);
      auto runs = sink.take_runs();
      if (runs.size() != 1 || r["bytes"] != runs[0].bytes || runs[0].bytes != uint64_t(o.mib) << 20)
        throw Error("bench net: a throughput run did not deliver its bytes: " + r.dump());
      series->v.push_back(mib_per_s(runs[0]));
    }
  }
  return {sandbox, host};
}

// Round trips in microseconds; the first few of each connection are left out (warm-up).
std::pair<Series, Series> measure_redis(const BenchNetOptions& o, const Client& client) {
  json event = {{"op", "redis_ping"}, {"host", kServerAddress}, {"port", kRedisPort}, {"count", o.pings + 5}};
  Series sandbox, host;
  for (unsigned i = 0; i < o.reps; ++i) {
    for (auto* series : {&sandbox, &host}) {
      json r = series == &sandbox ? client.in_sandbox("net:1", event) : client.on_host(event);
      const auto& trips = r["round_trip_us"];
      for (size_t k = 5; k < trips.size(); ++k) series->v.push_back(trips[k].get<double>());
    }
  }
  return {sandbox, host};
}

// A new sandbox restored from each function's snapshot, alternating: wall time to the first
// response, and the REPORT's Restore Duration.
struct Restores {
  Series network_ms, plain_ms, network_restore_ms, plain_restore_ms;
};
Restores measure_restores(const BenchNetOptions& o, Engine& engine, const Client& client) {
  Restores out;
  for (unsigned i = 0; i < o.reps; ++i) {
    for (const char* function : {"net:1", "plain:1"}) {
      bool net = function[0] == 'n';
      engine.release_idle_sandboxes();
      auto t0 = Clock::now();
      InvokeResult r;
      client.in_sandbox(function, {{"op", "none"}}, &r);
      double ms = ms_since(t0);
      if (r.report.start != StartKind::kRestored) throw Error(std::string("bench net: ") + function + " was not restored");
      (net ? out.network_ms : out.plain_ms).v.push_back(ms);
      (net ? out.network_restore_ms : out.plain_restore_ms).v.push_back(r.report.restore_duration_ms);
    }
  }
  return out;
}

void publish(Engine& engine, const std::string& name, const std::string& code, std::vector<std::string> allow) {
  FunctionSettings s;
  s.runtime = "python3.11";
  s.timeout_s = 120;
  s.snap_start = SnapStartApplyOn::kPublishedVersions;
  s.network_allow = std::move(allow);
  engine.create_function(name, s, {.directory = code});
  engine.wait_until_ready(name);
  engine.publish_version(name);
  auto v1 = engine.wait_until_ready(name, "1");
  if (!v1.snap_start_optimized) throw Error("bench net: " + name + " has no snapshot: " + v1.state_reason);
}

json p50_p99(const Series& s) { return {{"p50", s.median()}, {"p99", s.percentile(99)}, {"n", s.v.size()}}; }
double ratio(double a, double b) { return b > 0 ? a / b : 0; }

void print(const BenchNetOptions& o, const std::pair<Series, Series>& tcp, const std::pair<Series, Series>& rtt,
           const Restores& rs) {
  std::printf("bench net: python-netbench, %u runs each, sandbox and host alternating%s\n", o.reps,
              o.tx_rate ? (", sandbox tx limit " + std::to_string(o.tx_rate) + " B/s").c_str() : "");
  std::printf("  TCP sandbox -> host, %u MiB a run    sandbox %9.1f MiB/s   host (loopback) %9.1f MiB/s   sandbox/host %.3f\n",
              o.mib, tcp.first.median(), tcp.second.median(), ratio(tcp.first.median(), tcp.second.median()));
  std::printf("  Redis PING round trip (%u a run)     sandbox p50 %7.0f us p99 %7.0f us   host p50 %7.0f us p99 %7.0f us   sandbox/host %.1fx (p50)\n",
              o.pings, rtt.first.median(), rtt.first.percentile(99), rtt.second.median(), rtt.second.percentile(99),
              ratio(rtt.first.median(), rtt.second.median()));
  std::printf("  new sandbox, restored, to its first response   with network p50 %8.1f ms   without %8.1f ms   with/without %.3f\n",
              rs.network_ms.median(), rs.plain_ms.median(), ratio(rs.network_ms.median(), rs.plain_ms.median()));
  std::printf("  of which Restore Duration (REPORT)             with network p50 %8.1f ms   without %8.1f ms   with/without %.3f\n",
              rs.network_restore_ms.median(), rs.plain_restore_ms.median(),
              ratio(rs.network_restore_ms.median(), rs.plain_restore_ms.median()));
}

json to_json(const BenchNetOptions& o, const std::pair<Series, Series>& tcp, const std::pair<Series, Series>& rtt,
             const Restores& rs) {
  return {{"runs", o.reps},
          {"tx_rate_limit_bytes_per_s", o.tx_rate},
          {"tcp_mib_per_s", {{"mib_per_run", o.mib}, {"sandbox", p50_p99(tcp.first)}, {"host", p50_p99(tcp.second)},
                             {"sandbox_over_host", ratio(tcp.first.median(), tcp.second.median())}}},
          {"redis_round_trip_us", {{"pings_per_run", o.pings}, {"sandbox", p50_p99(rtt.first)}, {"host", p50_p99(rtt.second)},
                                   {"sandbox_over_host", ratio(rtt.first.median(), rtt.second.median())}}},
          {"restore_to_first_response_ms", {{"network", p50_p99(rs.network_ms)}, {"no_network", p50_p99(rs.plain_ms)},
                                            {"network_over_no_network", ratio(rs.network_ms.median(), rs.plain_ms.median())}}},
          {"restore_duration_ms", {{"network", p50_p99(rs.network_restore_ms)}, {"no_network", p50_p99(rs.plain_restore_ms)},
                                   {"network_over_no_network",
                                    ratio(rs.network_restore_ms.median(), rs.plain_restore_ms.median())}}}};
}

int run_bench_net(const BenchNetOptions& o) {
  fs::remove_all(o.work);
  fs::create_directories(o.work);
  enter_own_network_namespace();
  auto redis = start_redis(o.work);
  TcpSink sink(kServerAddress, kSinkPort);
  EngineOptions eo;
  eo.data_dir = (fs::path(o.work) / "data").string();
  eo.init_timeout = std::chrono::seconds(60);  // a software CPU, where there is no /dev/kvm
  eo.restore_timeout = std::chrono::seconds(60);
  eo.boot_allowance = std::chrono::seconds(300);
  eo.network.tx_bytes_per_second = o.tx_rate;
  Engine engine(eo);
  Client client{engine, installed_or_built(THAW_INSTALL_DATADIR "/thaw/examples", THAW_EXAMPLES_DIR) + "/python-netbench"};
  progress("publishing python-netbench with a network (net) and without (plain): INIT and a snapshot each");
  publish(engine, "net", client.code, {destination(kSinkPort), destination(kRedisPort)});
  publish(engine, "plain", client.code, {});
  progress("new sandboxes: restored with and without a network, alternating");
  Restores restores = measure_restores(o, engine, client);
  progress("TCP throughput, sandbox and host alternating");
  auto tcp = measure_throughput(o, client, sink);
  progress("Redis round trips, sandbox and host alternating");
  auto rtt = measure_redis(o, client);
  if (o.json)
    std::cout << to_json(o, tcp, rtt, restores).dump(2) << std::endl;
  else
    print(o, tcp, rtt, restores);
  return 0;
}

}  // namespace

Command add_bench_net_command(CLI::App& app) {
  CLI::App* bench = bench_group(app);
  auto* sub = bench->add_subcommand(
      "net", "a sandbox's network: TCP throughput and Redis round trips vs the host, restore with and without a network");
  auto o = std::make_shared<BenchNetOptions>();
  o->work = (exe_dir() / "bench-net").string();
  sub->add_option("--reps", o->reps, "runs of each measurement")->capture_default_str()->check(CLI::Range(1, 1000));
  sub->add_option("--mib", o->mib, "MiB sent in each throughput run")->capture_default_str()->check(CLI::Range(1, 4096));
  sub->add_option("--pings", o->pings, "Redis round trips in each run")->capture_default_str()->check(CLI::Range(1, 100000));
  sub->add_option("--tx-rate", o->tx_rate, "the sandboxes' outbound limit, bytes/s (0: none)")->capture_default_str();
  sub->add_option("--work", o->work, "a scratch directory (deleted first)")->capture_default_str();
  sub->add_flag("--json", o->json, "print one JSON object");
  return {sub, true, [o] { return run_bench_net(*o); }};
}

}  // namespace thaw::cli
