#include "invoke-api/lambda_json.h"

namespace thaw::api {
using nlohmann::json;

json function_configuration(const FunctionInfo& f) {
  const auto& s = f.settings;
  json j = {{"FunctionName", f.name},
            {"FunctionArn", f.arn},
            {"Runtime", s.runtime},
            {"Role", s.role.empty() ? "arn:aws:iam::000000000000:role/thaw" : s.role},
            {"Handler", s.handler},
            {"CodeSize", f.code_size},
            {"Description", s.description},
            {"Timeout", s.timeout_s},
            {"MemorySize", s.memory_mb},
            {"LastModified", f.last_modified},
            {"CodeSha256", f.code_sha256},
            {"Version", f.version},
            {"RevisionId", f.revision_id},
            {"State", to_string(f.state)},
            {"LastUpdateStatus", to_string(f.last_update_status)},
            {"PackageType", "Zip"},
            {"Architectures", json::array({"x86_64"})},
            {"SnapStart",
             {{"ApplyOn", to_string(s.snap_start)}, {"OptimizationStatus", f.snap_start_optimized ? "On" : "Off"}}}};
  if (!s.environment.empty()) j["Environment"] = {{"Variables", s.environment}};
  if (!s.dead_letter_target.empty()) j["DeadLetterConfig"] = {{"TargetArn", s.dead_letter_target}};
  if (!f.layers.empty()) {
    j["Layers"] = json::array();
    for (const auto& l : f.layers) j["Layers"].push_back({{"Arn", l.arn}, {"CodeSize", l.code_size}});
  }
  if (!s.network_allow.empty())  // see network_allow_of in lambda_requests.cpp
    j["VpcConfig"] = {{"SubnetIds", s.network_allow}, {"SecurityGroupIds", json::array()}, {"VpcId", "thaw"}};
  if (!f.state_reason.empty()) j["StateReason"] = f.state_reason;
  if (!f.state_reason_code.empty()) j["StateReasonCode"] = f.state_reason_code;
  return j;
}

json alias_configuration(const AliasInfo& a) {
  json j = {{"AliasArn", a.arn},
            {"Name", a.name},
            {"FunctionVersion", a.function_version},
            {"Description", a.description},
            {"RevisionId", a.revision_id}};
  if (a.routing) j["RoutingConfig"] = {{"AdditionalVersionWeights", {{a.routing->version, a.routing->weight}}}};
  return j;
}

nlohmann::json account_settings_json(const AccountSettings& a) {
  return {{"AccountLimit",
           {{"TotalCodeSize", a.total_code_size_limit},
            {"CodeSizeUnzipped", a.code_size_unzipped_limit},
            {"CodeSizeZipped", a.code_size_zipped_limit},
            {"ConcurrentExecutions", a.concurrent_executions},
            {"UnreservedConcurrentExecutions", a.unreserved_concurrent_executions}}},
          {"AccountUsage", {{"TotalCodeSize", a.total_code_size}, {"FunctionCount", a.function_count}}}};
}

nlohmann::json provisioned_concurrency_json(const ProvisionedConcurrencyInfo& p, const std::string& function_arn) {
  nlohmann::json j = {{"RequestedProvisionedConcurrentExecutions", p.requested},
                      {"AvailableProvisionedConcurrentExecutions", p.allocated},
                      {"AllocatedProvisionedConcurrentExecutions", p.allocated},
                      {"Status", std::string(to_string(p.status))},
                      {"LastModified", p.last_modified}};
  if (!p.status_reason.empty()) j["StatusReason"] = p.status_reason;
  if (!function_arn.empty()) j["FunctionArn"] = function_arn + ":" + p.qualifier;
  return j;
}

nlohmann::json event_invoke_config_json(const EventInvokeConfig& c, const std::string& function_arn) {
  nlohmann::json destinations = nlohmann::json::object();
  if (!c.on_success.empty()) destinations["OnSuccess"] = {{"Destination", c.on_success}};
  if (!c.on_failure.empty()) destinations["OnFailure"] = {{"Destination", c.on_failure}};
  return {{"FunctionArn", function_arn + ":" + c.qualifier},
          {"MaximumRetryAttempts", c.maximum_retry_attempts},
          {"MaximumEventAgeInSeconds", c.maximum_event_age_s},
          {"DestinationConfig", destinations},
          {"LastModified", c.last_modified}};
}

json layer_versions_list_item(const LayerVersionInfo& l) {
  json j = {{"LayerVersionArn", l.layer_version_arn},
            {"Version", l.version},
            {"Description", l.settings.description},
            {"CreatedDate", l.created_date},
            {"CompatibleRuntimes", l.settings.compatible_runtimes},
            {"CompatibleArchitectures", l.settings.compatible_architectures}};
  if (!l.settings.license_info.empty()) j["LicenseInfo"] = l.settings.license_info;
  return j;
}

json layer_version_json(const LayerVersionInfo& l) {
  json j = layer_versions_list_item(l);
  j["LayerArn"] = l.layer_arn;
  j["Content"] = {{"CodeSha256", l.code_sha256}, {"CodeSize", l.code_size}};
  return j;
}

json layers_list_item(const LayerVersionInfo& latest) {
  return {{"LayerName", latest.layer_name},
          {"LayerArn", latest.layer_arn},
          {"LatestMatchingVersion", layer_versions_list_item(latest)}};
}

}  // namespace thaw::api
