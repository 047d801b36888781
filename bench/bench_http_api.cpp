// What `thaw serve`'s HTTP layer costs per request, natively and without a VM: a DryRun Invoke
// (the API finds the function and answers 204) over keep-alive loopback connections through
// the server, its thread pool and the Lambda API, against the same request handed to the
// Lambda API in-process, and the engine's lookup alone. Read the ratios within one run:
// OverHttp - InProcess is what the HTTP layer adds to every invoke.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include <benchmark/benchmark.h>

#include "invoke-api/blocking_pool.h"
#include "invoke-api/http_client.h"
#include "invoke-api/http_server.h"
#include "invoke-api/lambda_api.h"
#include "thaw/engine.h"

namespace {
namespace fs = std::filesystem;
using namespace thaw;

// One engine (a stand-in agent: images are built, nothing boots) with one Active function,
// behind the server as `thaw serve` puts it.
struct Served {
  fs::path dir = fs::temp_directory_path() / ("thaw-bench-api-" + std::to_string(getpid()));
  std::unique_ptr<Engine> engine;
  std::unique_ptr<api::BlockingPool> pool;
  std::unique_ptr<api::LambdaApi> lambda;
  std::unique_ptr<api::HttpServer> server;

  Served() {
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream(dir / "agent") << "#!/bin/sh\n";
    fs::permissions(dir / "agent", fs::perms(0755));
    EngineOptions o;
    o.data_dir = (dir / "data").string();
    o.guest_agent = (dir / "agent").string();
    engine = std::make_unique<Engine>(o);
    FunctionSettings s;
    s.runtime = "provided";
    s.handler = "function.handler";
    engine->create_function("bench", s, {.directory = THAW_SOURCE_DIR "/examples/functions/provided-shell"});
    engine->wait_until_ready("bench");
    pool = std::make_unique<api::BlockingPool>(4096);
    lambda = std::make_unique<api::LambdaApi>(*engine, api::ApiOptions{});
    server = std::make_unique<api::HttpServer>(api::ServerOptions{.port = 0}, [this](api::HttpRequest r, api::Responder respond) {
      pool->submit([this, r = std::move(r), respond = std::move(respond)] { respond(lambda->handle(r)); });
    });
  }
  ~Served() {
    server->stop_accepting();
    pool->wait_idle();
    server->stop();
    pool.reset();
    lambda.reset();
    engine.reset();
    fs::remove_all(dir);
  }
};

Served& served() {
  static Served s;
  return s;
}

const api::HttpRequest kDryRun{"POST", "/2015-03-31/functions/bench/invocations", {{"X-Amz-Invocation-Type", "DryRun"}}, "{}"};

void BM_ApiDryRunOverHttp(benchmark::State& state) {
  api::HttpClient client("127.0.0.1", served().server->port());
  for (auto _ : state)
    if (client.send(kDryRun).status != 204) state.SkipWithError("the DryRun was not answered 204");
}
BENCHMARK(BM_ApiDryRunOverHttp)->UseRealTime()->Threads(1)->Threads(8)->Threads(64);

void BM_ApiDryRunInProcess(benchmark::State& state) {
  auto& s = served();
  for (auto _ : state)
    if (s.lambda->handle(kDryRun).status != 204) state.SkipWithError("the DryRun was not answered 204");
}
BENCHMARK(BM_ApiDryRunInProcess)->UseRealTime()->Threads(1)->Threads(8)->Threads(64);

void BM_EngineGetFunction(benchmark::State& state) {
  auto& s = served();
  for (auto _ : state) benchmark::DoNotOptimize(s.engine->get_function("bench"));
}
BENCHMARK(BM_EngineGetFunction)->UseRealTime()->Threads(1)->Threads(8);

}  // namespace
