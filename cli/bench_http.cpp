#include "cli/bench_http.h"

#include "base/error.h"
#include "invoke-api/blocking_pool.h"
#include "invoke-api/http_server.h"
#include "invoke-api/lambda_api.h"
#include "thaw/engine.h"

namespace thaw::cli {

struct InProcessApi::Impl {
  explicit Impl(Engine& engine)
      : lambda(engine, {}),
        server({.port = 0}, [this](api::HttpRequest request, api::Responder respond) {
          pool.submit([this, request = std::move(request), respond = std::move(respond)] {
            respond(lambda.handle(request));
          });
        }) {}
  api::BlockingPool pool{4096};
  api::LambdaApi lambda;
  api::HttpServer server;
};

InProcessApi::InProcessApi(Engine& engine) : impl_(std::make_unique<Impl>(engine)) {}

InProcessApi::~InProcessApi() {
  impl_->server.stop_accepting();
  impl_->pool.wait_idle();
  impl_->server.stop();
  impl_->pool.wait_idle();
}

uint16_t InProcessApi::port() const { return impl_->server.port(); }

std::unique_ptr<api::HttpClient> InProcessApi::connect() const {
  return std::make_unique<api::HttpClient>("127.0.0.1", port());
}

void invoke_over(api::HttpClient& client, const std::string& function, const std::string& payload,
                 const std::string& qualifier, bool event) {
  api::HttpRequest request{"POST", "/2015-03-31/functions/" + function + "/invocations", {}, payload};
  if (!qualifier.empty()) request.target += "?Qualifier=" + qualifier;
  if (event) request.headers.emplace_back("X-Amz-Invocation-Type", "Event");
  auto r = client.send(request);
  if (r.status != (event ? 202 : 200) || r.header("X-Amz-Function-Error"))
    throw Error("the invocation failed (HTTP " + std::to_string(r.status) + "): " + r.body);
}

}  // namespace thaw::cli
