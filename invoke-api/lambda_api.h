#pragma once
// The AWS Lambda API (2015-03-31) over a thaw::Engine: one HTTP request in, its response out,
// as botocore's model and Lambda's service answer them. Blocking (an Invoke holds its caller for
// the function's run): the server calls it off its I/O threads. Thread-safe.
#include <atomic>
#include <functional>
#include <string>

#include "invoke-api/http_message.h"
#include "invoke-api/lambda_routes.h"
#include "thaw/engine.h"

namespace thaw::api {

struct ApiOptions {
  // Called first with every request; throws ApiError to refuse it (SigV4Verifier). Unset: any
  // request, signed or not, is taken.
  std::function<void(const HttpRequest&)> authenticate{};
};

class LambdaApi {
 public:
  LambdaApi(Engine& engine, ApiOptions options);

  // Never throws: every outcome is a response (ServiceException, 500, for what nobody expected).
  HttpResponse handle(const HttpRequest& request);

 private:
  // GET /metrics: the engine's metrics as Prometheus text (prometheus_text.h).
  HttpResponse metrics_response() const;
  HttpResponse dispatch(const Route& route, const HttpRequest& request, const std::string& request_id);
  HttpResponse invoke(const Route& route, const HttpRequest& request, const std::string& request_id);
  HttpResponse create_function(const HttpRequest& request);
  HttpResponse update_function_code(const Route& route, const HttpRequest& request);
  HttpResponse list_functions(const Route& route);
  HttpResponse list_versions(const Route& route);
  HttpResponse list_aliases(const Route& route);
  HttpResponse update_alias(const Route& route, const HttpRequest& request);
  HttpResponse layer_operation(const Route& route, const HttpRequest& request);
  // $LATEST once its build is done, published (CreateFunction/UpdateFunctionCode with Publish).
  FunctionInfo publish_when_built(const std::string& function);

  Engine& engine_;
  ApiOptions options_;
};

}  // namespace thaw::api
