#pragma once
// The control plane's request bodies (JSON, as botocore's model shapes them) decoded into the
// engine's types. Each throws ApiError: InvalidRequestContentException for a body that is not
// a JSON object, InvalidParameterValueException naming the member that is missing, mistyped or
// not one thaw supports (S3 code, container images, another architecture).
#include <optional>
#include <string>

#include "thaw/engine.h"

namespace thaw::api {

struct CreateFunctionInput {
  std::string name{};
  FunctionSettings settings{};
  FunctionCode code{};
  bool publish = false;
};
CreateFunctionInput parse_create_function(const std::string& body);

FunctionSettingsUpdate parse_update_configuration(const std::string& body);

struct UpdateCodeInput {
  FunctionCode code{};
  bool publish = false, dry_run = false;
  std::string revision_id{};
};
UpdateCodeInput parse_update_code(const std::string& body);

struct PublishInput {
  std::string code_sha256{}, description{}, revision_id{};
};
PublishInput parse_publish_version(const std::string& body);

// CreateAlias (name and version required) and UpdateAlias (every member optional; `routing`
// set, to nullopt for an empty AdditionalVersionWeights, only where RoutingConfig was sent).
struct AliasInput {
  std::string name{};
  std::optional<std::string> function_version{}, description{}, revision_id{};
  std::optional<std::optional<AliasRouting>> routing{};
};
AliasInput parse_alias(const std::string& body, bool create);

// PutFunctionConcurrency's ReservedConcurrentExecutions (required, >= 0).
unsigned parse_put_concurrency(const std::string& body);
// PutProvisionedConcurrencyConfig's ProvisionedConcurrentExecutions (required; the engine wants >= 1).
unsigned parse_put_provisioned_concurrency(const std::string& body);
// Put/UpdateFunctionEventInvokeConfig's body: MaximumRetryAttempts, MaximumEventAgeInSeconds,
// DestinationConfig {OnSuccess, OnFailure: {Destination}} (an empty Destination clears it).
EventInvokeConfigUpdate parse_event_invoke_config(const std::string& body);

struct PublishLayerInput {
  LayerSettings settings{};
  FunctionCode content{};
};
PublishLayerInput parse_publish_layer_version(const std::string& body);

// A role ARN as IAM spells it: arn:aws:iam::<12 digits>:role/<path and name>.
bool is_role_arn(const std::string& role);

}  // namespace thaw::api
