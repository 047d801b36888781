#pragma once
// The Lambda API's errors as botocore parses them: the exception's name in x-amzn-ErrorType,
// the HTTP status its shape declares, and a JSON body with Type (User or Service) and the
// message under the key the shape names ("message" for most, "Message" for some).
#include <stdexcept>
#include <string>

#include "invoke-api/http_message.h"
#include "thaw/error.h"

namespace thaw::api {

class ApiError : public std::runtime_error {
 public:
  ApiError(std::string exception, int status, const std::string& message)
      : std::runtime_error(message), exception_(std::move(exception)), status_(status) {}
  // The Lambda exception an engine error answers as (lambda_exception_name, http_status).
  static ApiError from(const EngineError& e);
  const std::string& exception() const { return exception_; }
  int status() const { return status_; }
  // TooManyRequestsException's Reason and Retry-After (seconds); empty/0 for the others.
  std::string reason{};
  unsigned retry_after_s = 0;

 private:
  std::string exception_;
  int status_;
};

// The common ones, by the names the model gives them.
ApiError invalid_parameter(const std::string& message);        // InvalidParameterValueException 400
ApiError invalid_request_content(const std::string& message);  // InvalidRequestContentException 400
ApiError not_found(const std::string& message);                // ResourceNotFoundException 404

HttpResponse error_response(const ApiError& e);

}  // namespace thaw::api
