#pragma once
// AWS Signature Version 4, checked as the Lambda service checks it (`thaw serve --auth sigv4`):
// the Authorization header's credential scope (key id, date, region, service "lambda"), the
// signature over the canonical request (method, URI, query, the signed headers, the payload's
// SHA-256), and X-Amz-Date within 5 minutes of the server's clock. Failures are 403s with the
// exceptions AWS answers: MissingAuthenticationTokenException, UnrecognizedClientException (an
// unknown key id), InvalidSignatureException (a wrong secret, scope or time),
// IncompleteSignatureException (a malformed Authorization header).
#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "invoke-api/http_message.h"

namespace thaw::api {

// Access key ids and their secrets from an AWS shared credentials file (INI: every profile
// with aws_access_key_id and aws_secret_access_key). thaw::Error when it has none.
std::map<std::string, std::string> read_credentials_file(const std::string& path);

class SigV4Verifier {
 public:
  SigV4Verifier(std::map<std::string, std::string> secrets, std::string region, std::string service = "lambda");
  // Throws ApiError (403) unless `request` is signed by one of the keys, for this region and
  // service, at a time within 5 minutes of `now`.
  void verify(const HttpRequest& request, std::chrono::system_clock::time_point now) const;

 private:
  std::map<std::string, std::string> secrets_;
  std::string region_, service_;
};

// The canonical request of SigV4 (exposed for the tests): `signed_headers` as the
// Authorization header lists them (lowercase, ';'-separated), `payload_hash` the hex SHA-256.
std::string sigv4_canonical_request(const HttpRequest& request, std::string_view signed_headers,
                                    std::string_view payload_hash);
// The hex signature of `string_to_sign` with the key derived from the secret and the scope.
std::string sigv4_signature(std::string_view secret, std::string_view date, std::string_view region,
                            std::string_view service, std::string_view string_to_sign);

}  // namespace thaw::api
