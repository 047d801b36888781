#include "invoke-api/api_error.h"

#include <algorithm>
#include <array>
#include <string_view>

#include <nlohmann/json.hpp>

namespace thaw::api {

namespace {

// The exceptions whose shape spells the member "Message" (botocore reads either, but clients
// that print the raw body see what AWS sends).
bool capital_message(std::string_view exception) {
  constexpr std::array<std::string_view, 5> kCapital = {"ResourceNotFoundException", "SnapStartNotReadyException",
                                                        "SnapStartException", "SnapStartTimeoutException",
                                                        "ServiceException"};
  for (auto e : kCapital)
    if (e == exception) return true;
  return false;
}

}  // namespace

ApiError ApiError::from(const EngineError& e) {
  ApiError out(std::string(lambda_exception_name(e.code())), http_status(e.code()), e.what());
  if (e.code() == ErrorCode::kThrottled) {
    out.reason = e.reason().empty() ? "ConcurrentInvocationLimitExceeded" : e.reason();
    out.retry_after_s = std::max(1u, e.retry_after_s());
  }
  return out;
}

ApiError invalid_parameter(const std::string& message) {
  return ApiError("InvalidParameterValueException", 400, message);
}
ApiError invalid_request_content(const std::string& message) {
  return ApiError("InvalidRequestContentException", 400, message);
}
ApiError not_found(const std::string& message) { return ApiError("ResourceNotFoundException", 404, message); }

HttpResponse error_response(const ApiError& e) {
  nlohmann::json body = {{"Type", e.status() >= 500 ? "Service" : "User"},
                         {capital_message(e.exception()) ? "Message" : "message", e.what()}};
  HttpResponse r;
  r.status = e.status();
  r.set_header("x-amzn-ErrorType", e.exception());
  r.set_header("Content-Type", "application/json");
  if (!e.reason.empty()) body["Reason"] = e.reason;
  if (e.retry_after_s) {
    body["retryAfterSeconds"] = std::to_string(e.retry_after_s);
    r.set_header("Retry-After", std::to_string(e.retry_after_s));
  }
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

}  // namespace thaw::api
