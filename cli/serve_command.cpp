// thaw serve: the engine behind the AWS Lambda API over HTTP (invoke-api/), for boto3, the AWS
// CLI and any SDK pointed at it with --endpoint-url. Runs until SIGINT or SIGTERM, then stops
// taking connections, lets running invocations finish (--drain) and shuts the sandboxes down.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "base/error.h"
#include "cli/commands.h"
#include "cli/global_options.h"
#include "invoke-api/blocking_pool.h"
#include "invoke-api/http_server.h"
#include "invoke-api/lambda_api.h"
#include "invoke-api/sigv4.h"

namespace thaw::cli {
namespace {

struct ServeArgs {
  std::string listen = "127.0.0.1:9000";
  std::string port_file;
  std::string auth = "none", credentials;
  bool insecure = false;
  unsigned drain_s = 30;
  unsigned max_threads = 4096;
  unsigned event_workers = 4;
  double retry_scale = 1;
  unsigned init_timeout_s = 10;
  unsigned restore_timeout_s = 10;
  int snapshot_zstd_level = EngineOptions{}.snapshot_zstd_level;
  unsigned spare_vmm_processes = EngineOptions{}.spare_vmm_processes;
  NetworkOptions network;
};

// HOST:PORT, [IPv6]:PORT, or a bare PORT (on loopback).
std::pair<std::string, uint16_t> parse_listen(const std::string& listen) {
  std::string host = "127.0.0.1", port = listen;
  if (auto colon = listen.rfind(':'); colon != std::string::npos) {
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  }
  try {
    size_t used = 0;
    unsigned long p = std::stoul(port, &used);
    if (used == port.size() && p <= 65535) return {host, uint16_t(p)};
  } catch (const std::exception&) {
  }
  throw Error("--listen " + listen + ": expected HOST:PORT, e.g. 127.0.0.1:9000");
}

bool is_loopback(const std::string& host) { return host == "::1" || host.starts_with("127.") || host == "localhost"; }

// Each connection is a file descriptor: take the hard limit, so a thousand clients fit.
void raise_fd_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

int run_serve(const ServeArgs& a) {
  auto [host, port] = parse_listen(a.listen);
  if (host == "localhost") host = "127.0.0.1";
  if (!is_loopback(host) && a.auth == "none" && !a.insecure)
    throw Error("--listen " + a.listen + " is reachable from other machines, and --auth none checks no credentials: "
                "give --auth sigv4 --credentials FILE, or --insecure to serve it anyway");
  std::unique_ptr<api::SigV4Verifier> verifier;
  if (a.auth == "sigv4") {
    if (a.credentials.empty()) throw Error("--auth sigv4 needs --credentials FILE (an AWS shared credentials file)");
    verifier = std::make_unique<api::SigV4Verifier>(api::read_credentials_file(a.credentials),
                                                    cli_engine_options(0).region);
  }
  // Blocked before any thread starts, so every thread inherits the mask and only sigwait sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  raise_fd_limit();

  auto options = cli_engine_options(1);
  options.async.workers = a.event_workers;
  options.async.retry_delay_scale = a.retry_scale;
  options.init_timeout = std::chrono::seconds(a.init_timeout_s);
  options.network = a.network;
  options.restore_timeout = std::chrono::seconds(a.restore_timeout_s);
  options.snapshot_zstd_level = a.snapshot_zstd_level;
  options.spare_vmm_processes = a.spare_vmm_processes;
  Engine engine(options);
  api::BlockingPool pool(a.max_threads);
  api::ApiOptions api_options;
  if (verifier)
    api_options.authenticate = [&verifier](const api::HttpRequest& r) {
      verifier->verify(r, std::chrono::system_clock::now());
    };
  api::LambdaApi lambda(engine, std::move(api_options));
  api::HttpServer server({.address = host, .port = port}, [&](api::HttpRequest request, api::Responder respond) {
    pool.submit([&lambda, request = std::move(request), respond = std::move(respond)] {
      auto t0 = std::chrono::steady_clock::now();
      auto response = lambda.handle(request);
      spdlog::debug("{} {} -> {} ({:.1f} ms)", request.method, request.target, response.status,
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      respond(std::move(response));
    });
  });
  std::string url = "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                    std::to_string(server.port());
  if (!a.port_file.empty()) {
    std::ofstream(a.port_file + ".tmp") << server.port() << "\n";
    std::filesystem::rename(a.port_file + ".tmp", a.port_file);
  }
  spdlog::info("thaw serve: the Lambda API on {} (data directory {}); e.g. aws lambda list-functions "
               "--endpoint-url {}; SIGINT or SIGTERM stops", url, engine.data_dir(), url);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("thaw serve: {}: letting running invocations finish (up to {} s), then stopping", strsignal(sig),
               a.drain_s);
  server.stop_accepting();
  engine.shutdown(std::chrono::seconds(a.drain_s));
  pool.wait_idle();  // every answer due is given, and
  server.stop();     // written; then what came in meanwhile (throttled) is done before `lambda` goes
  pool.wait_idle();
  spdlog::info("thaw serve: stopped");
  return 0;
}

}  // namespace

Command add_serve_command(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* sub = app.add_subcommand(
      "serve",
      "serve the AWS Lambda API (2015-03-31) over HTTP: point boto3 or the AWS CLI at it with --endpoint-url. "
      "Clients time out reads at 60 s and retry 429 and 5xx: for functions that run longer, give the AWS CLI "
      "--cli-read-timeout 0 and botocore Config(read_timeout=900, retries={'max_attempts': 0})");
  sub->add_option("--listen", a->listen, "HOST:PORT to listen on (port 0: any free one)")->capture_default_str();
  sub->add_option("--auth", a->auth,
                  "none: take any request, signed or not (as local emulators do); sigv4: verify AWS Signature "
                  "Version 4 against --credentials (403 InvalidSignatureException / UnrecognizedClientException)")
      ->check(CLI::IsMember({"none", "sigv4"}))
      ->capture_default_str();
  sub->add_option("--credentials", a->credentials,
                  "with --auth sigv4: an AWS shared credentials file; every profile's aws_access_key_id and "
                  "aws_secret_access_key is accepted")
      ->check(CLI::ExistingFile);
  sub->add_flag("--insecure", a->insecure, "allow --auth none on a --listen address other machines can reach");
  sub->add_option("--drain", a->drain_s, "seconds running invocations get to finish at SIGINT/SIGTERM")
      ->capture_default_str();
  sub->add_option("--port-file", a->port_file, "write the port listened on to this file once listening (for scripts)");
  sub->add_option("--max-threads", a->max_threads, "requests handled at once (each Invoke holds one until it returns)")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  sub->add_option("--event-workers", a->event_workers,
                  "threads delivering Event invocations from the durable queue (DATA/events)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  sub->add_option("--event-retry-scale", a->retry_scale,
                  "multiplies Lambda's retry delays for Event invocations (1 and 2 min after a function error)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--init-timeout", a->init_timeout_s,
                  "seconds a new sandbox's INIT may take (Lambda's 10; more on a software CPU, where INIT runs "
                  "tens of times slower)")
      ->capture_default_str()
      ->check(CLI::Range(1, 900));
  sub->add_option("--restore-timeout", a->restore_timeout_s,
                  "seconds a SnapStart restore and its after-restore hooks may take (Lambda's 10; more on a "
                  "software CPU restoring several sandboxes at once)")
      ->capture_default_str()
      ->check(CLI::Range(1, 900));
  sub->add_option("--snapshot-zstd-level", a->snapshot_zstd_level,
                  "after a SnapStart snapshot's first restore, re-encode the memory off its working set with zstd "
                  "at this level, in the background (0: never; 15 stores it about a third smaller than lz4)")
      ->capture_default_str()
      ->check(CLI::Range(0, 19));
  sub->add_option("--spare-vmm-processes", a->spare_vmm_processes,
                  "VMM processes kept started and idle, so that a new sandbox does not wait for one to start "
                  "(0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0, 64));
  sub->add_option("--sandbox-network", a->network.host_range,
                  "the host range whose /30s are the uplinks of sandboxes with a network (functions with "
                  "destinations, VpcConfig.SubnetIds); it must not overlap this host's own networks")
      ->capture_default_str();
  sub->add_option("--sandbox-networks-ready", a->network.ready,
                  "sandbox networks (namespace, veth, TAP, firewall) kept made ahead, so a restore does not wait")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
  sub->add_option("--sandbox-tx-rate", a->network.tx_bytes_per_second,
                  "each sandbox's outbound limit in bytes a second (0: none); bursts of up to a second's worth");
  Command c{sub, true, [a] { return run_serve(*a); }};
  c.uses_data_dir = true;
  return c;
}

}  // namespace thaw::cli
