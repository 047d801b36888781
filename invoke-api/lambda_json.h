#pragma once
// The Lambda API's JSON shapes (botocore's lambda/2015-03-31 model) for what thaw::Engine
// returns: FunctionConfiguration, AliasConfiguration, layer versions and the account's settings. Used by `thaw serve`
// and by the CLI's --json output, so both print the same documents.
#include <nlohmann/json.hpp>

#include "thaw/engine.h"

namespace thaw::api {

nlohmann::json function_configuration(const FunctionInfo& f);
nlohmann::json alias_configuration(const AliasInfo& a);
nlohmann::json account_settings_json(const AccountSettings& a);  // GetAccountSettingsResponse
// GetProvisionedConcurrencyConfigResponse; with `function_arn`, the ProvisionedConcurrencyConfigListItem.
nlohmann::json provisioned_concurrency_json(const ProvisionedConcurrencyInfo& p, const std::string& function_arn = {});
// FunctionEventInvokeConfig; `function_arn` is the unqualified function's.
nlohmann::json event_invoke_config_json(const EventInvokeConfig& c, const std::string& function_arn);
// GetLayerVersionResponse (also PublishLayerVersion's).
nlohmann::json layer_version_json(const LayerVersionInfo& l);
nlohmann::json layer_versions_list_item(const LayerVersionInfo& l);  // ListLayerVersions' items
nlohmann::json layers_list_item(const LayerVersionInfo& latest);     // ListLayers' items

}  // namespace thaw::api
