// Invoke as Lambda answers it: RequestResponse (200 with the function's result, or its error
// JSON and X-Amz-Function-Error), Event (202 once accepted, run in the background) and DryRun
// (204); LogType Tail, ClientContext, and the request-size limits of each type.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "invoke-api/api_error.h"
#include "invoke-api/lambda_api.h"

namespace thaw::api {

namespace {

constexpr size_t kMaxSyncPayload = 6 * 1024 * 1024;
constexpr size_t kMaxEventPayload = 1024 * 1024;
constexpr size_t kMaxClientContext = 3583;  // bytes of base64, as Lambda limits it
constexpr size_t kLogTail = 4096;

// The base64 X-Amz-Client-Context decoded; it must hold a JSON object.
std::string client_context_of(const HttpRequest& request) {
  auto header = request.header("X-Amz-Client-Context");
  if (!header || header->empty()) return {};
  if (header->size() > kMaxClientContext)
    throw invalid_parameter("Client context must be at most 3583 bytes of base64 (it has " +
                            std::to_string(header->size()) + ")");
  auto decoded = base64_decode(*header);
  if (!decoded || !nlohmann::json::accept(*decoded))
    throw invalid_request_content("Client context must be a valid Base64-encoded JSON object.");
  return *decoded;
}

// X-Amz-Tenant-Id: Lambda's tenant isolation; at most 256 printable characters.
std::string tenant_id_of(const HttpRequest& request) {
  auto header = request.header("X-Amz-Tenant-Id");
  if (!header || header->empty()) return {};
  bool printable = std::all_of(header->begin(), header->end(), [](char c) { return c > ' ' && c < 127; });
  if (header->size() > 256 || !printable)
    throw invalid_parameter("TenantId must be 1 to 256 printable characters without spaces");
  return std::string(*header);
}

// The payload, which Lambda requires to be JSON (an absent one is the empty object).
std::string payload_of(const std::string& body) {
  if (body.empty()) return "{}";
  if (!nlohmann::json::accept(body))
    throw invalid_request_content("Could not parse request body into json: the payload is not valid JSON");
  return body;
}

// The last 4 KB of the invocation's log (START ... REPORT), as X-Amz-Log-Result carries it.
std::string log_tail(const std::vector<std::string>& lines) {
  std::string log;
  for (const auto& l : lines) log += l + "\n";
  if (log.size() > kLogTail) log.erase(0, log.size() - kLogTail);
  return base64_encode(log);
}

}  // namespace

HttpResponse LambdaApi::invoke(const Route& route, const HttpRequest& request, const std::string& request_id) {
  std::string type(request.header("X-Amz-Invocation-Type").value_or("RequestResponse"));
  std::string log_type(request.header("X-Amz-Log-Type").value_or("None"));
  std::string qualifier = route.query.count("Qualifier") ? route.query.at("Qualifier") : "";
  if (log_type != "None" && log_type != "Tail") throw invalid_parameter("LogType must be None or Tail");
  if (type == "DryRun") {
    engine_.get_function(route.function, qualifier);
    HttpResponse r;
    r.status = 204;
    return r;
  }
  if (type == "Event") {
    if (request.body.size() > kMaxEventPayload)
      throw ApiError("RequestTooLargeException", 413,
                     "Request must be smaller than 1048576 bytes for the InvokeFunction operation with Event invocation type");
    InvokeRequest in{.function = route.function, .qualifier = qualifier, .payload = payload_of(request.body),
                     .request_id = request_id};
    engine_.invoke_async(in);  // on disk before the 202
    HttpResponse r;
    r.status = 202;
    r.set_header("x-amzn-RequestId", request_id);
    return r;
  }
  if (type != "RequestResponse") throw invalid_parameter("InvocationType must be RequestResponse, Event or DryRun");
  if (request.body.size() > kMaxSyncPayload)
    throw ApiError("RequestTooLargeException", 413, "Request must be smaller than 6291456 bytes for the InvokeFunction operation");

  InvokeRequest in{.function = route.function,
                   .qualifier = qualifier,
                   .payload = payload_of(request.body),
                   .client_context = client_context_of(request),
                   .request_id = request_id,
                   .tenant_id = tenant_id_of(request)};
  auto result = engine_.invoke(in);
  HttpResponse r;
  r.status = 200;
  r.set_header("Content-Type", "application/json");
  r.set_header("X-Amz-Executed-Version", result.executed_version);
  r.set_header("x-amzn-RequestId", result.request_id);
  if (!result.function_error.empty()) r.set_header("X-Amz-Function-Error", result.function_error);
  if (log_type == "Tail") r.set_header("X-Amz-Log-Result", log_tail(result.log_lines));
  r.body = std::move(result.payload);
  return r;
}

}  // namespace thaw::api
