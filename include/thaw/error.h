#pragma once
// Errors thaw::Engine reports. Each code a caller must tell apart maps one to one onto an
// exception of the AWS Lambda API (lambda_exception_name), which `thaw serve` returns.
#include <stdexcept>
#include <string>
#include <string_view>

namespace thaw {

enum class ErrorCode {
  kNotFound,          // ResourceNotFoundException (404): no such function, version or alias
  kProvisionedConfigNotFound,  // ProvisionedConcurrencyConfigNotFoundException (404)
  kNotReady,          // ResourceNotReadyException (502): the function's image is still building
  kSnapStartNotReady, // SnapStartNotReadyException (409): the version's snapshot is being taken
  kInvalidParameter,  // InvalidParameterValueException (400)
  kConflict,          // ResourceConflictException (409): exists already, in use, or an update under way
  kPreconditionFailed,  // PreconditionFailedException (412): the RevisionId given is not the current one
  kTooLarge,          // RequestTooLargeException (413): payload or code over Lambda's limits
  kThrottled,         // TooManyRequestsException (429)
  kSnapStartError,    // SnapStartException (400): the restored runtime's after-restore hooks failed
  kSnapStartTimeout,  // SnapStartTimeoutException (408): restore and its hooks ran past their budget
  kFunctionError,     // the function failed: X-Amz-Function-Error (reported in InvokeResult, not thrown)
  kSandboxError,      // ServiceException (500): no sandbox could be made (VMM, restore or boot failed)
  kInternal,          // ServiceException (500): a bug or an I/O failure of the engine itself
};

std::string_view lambda_exception_name(ErrorCode code);
int http_status(ErrorCode code);

class EngineError : public std::runtime_error {
 public:
  EngineError(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  // kThrottled with Lambda's Reason (ConcurrentInvocationLimitExceeded,
  // ReservedFunctionConcurrentInvocationLimitExceeded, FunctionInvocationRateLimitExceeded,
  // ReservedFunctionInvocationRateLimitExceeded) and the seconds after which a retry may pass.
  static EngineError throttled(std::string reason, const std::string& message, unsigned retry_after_s = 1) {
    EngineError e(ErrorCode::kThrottled, message);
    e.reason_ = std::move(reason);
    e.retry_after_s_ = retry_after_s;
    return e;
  }
  ErrorCode code() const noexcept { return code_; }
  const std::string& reason() const noexcept { return reason_; }
  unsigned retry_after_s() const noexcept { return retry_after_s_; }

 private:
  ErrorCode code_;
  std::string reason_{};
  unsigned retry_after_s_ = 0;
};

}  // namespace thaw
