// The names of the public enums, as the Lambda API spells them.
#include "thaw/engine.h"
#include "thaw/error.h"
#include "thaw/function.h"

namespace thaw {

std::string_view lambda_exception_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound: return "ResourceNotFoundException";
    case ErrorCode::kProvisionedConfigNotFound: return "ProvisionedConcurrencyConfigNotFoundException";
    case ErrorCode::kNotReady: return "ResourceNotReadyException";
    case ErrorCode::kSnapStartNotReady: return "SnapStartNotReadyException";
    case ErrorCode::kInvalidParameter: return "InvalidParameterValueException";
    case ErrorCode::kConflict: return "ResourceConflictException";
    case ErrorCode::kPreconditionFailed: return "PreconditionFailedException";
    case ErrorCode::kSnapStartError: return "SnapStartException";
    case ErrorCode::kSnapStartTimeout: return "SnapStartTimeoutException";
    case ErrorCode::kTooLarge: return "RequestTooLargeException";
    case ErrorCode::kThrottled: return "TooManyRequestsException";
    case ErrorCode::kFunctionError: return "Unhandled";
    case ErrorCode::kSandboxError: return "ServiceException";
    case ErrorCode::kInternal: return "ServiceException";
  }
  return "ServiceException";
}

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kProvisionedConfigNotFound: return 404;
    case ErrorCode::kNotReady: return 502;
    case ErrorCode::kSnapStartNotReady: return 409;
    case ErrorCode::kInvalidParameter: return 400;
    case ErrorCode::kConflict: return 409;
    case ErrorCode::kPreconditionFailed: return 412;
    case ErrorCode::kSnapStartError: return 400;
    case ErrorCode::kSnapStartTimeout: return 408;
    case ErrorCode::kTooLarge: return 413;
    case ErrorCode::kThrottled: return 429;
    case ErrorCode::kFunctionError: return 200;
    case ErrorCode::kSandboxError: return 500;
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

std::string_view to_string(FunctionState s) {
  switch (s) {
    case FunctionState::kPending: return "Pending";
    case FunctionState::kActive: return "Active";
    case FunctionState::kInactive: return "Inactive";
    case FunctionState::kFailed: return "Failed";
  }
  return "Failed";
}

std::string_view to_string(LastUpdateStatus s) {
  switch (s) {
    case LastUpdateStatus::kSuccessful: return "Successful";
    case LastUpdateStatus::kFailed: return "Failed";
    case LastUpdateStatus::kInProgress: return "InProgress";
  }
  return "Failed";
}

std::string_view to_string(SnapStartApplyOn a) {
  return a == SnapStartApplyOn::kPublishedVersions ? "PublishedVersions" : "None";
}

std::string_view to_string(ProvisionedStatus s) {
  switch (s) {
    case ProvisionedStatus::kInProgress: return "IN_PROGRESS";
    case ProvisionedStatus::kReady: return "READY";
    case ProvisionedStatus::kFailed: return "FAILED";
  }
  return "FAILED";
}

}  // namespace thaw
