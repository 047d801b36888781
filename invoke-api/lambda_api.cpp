#include "invoke-api/lambda_api.h"

#include <chrono>
#include <limits>

#include <nlohmann/json.hpp>

#include "invoke-api/api_error.h"
#include "invoke-api/lambda_json.h"
#include "invoke-api/lambda_requests.h"
#include "invoke-api/prometheus_text.h"
#include "restore-hooks/host_hooks.h"

namespace thaw::api {

namespace {
using nlohmann::json;

HttpResponse json_response(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.set_header("Content-Type", "application/json");
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse no_content() {
  HttpResponse r;
  r.status = 204;
  return r;
}

std::string query_or(const Route& route, const char* key, std::string fallback = {}) {
  auto it = route.query.find(key);
  return it == route.query.end() ? fallback : it->second;
}

// One page of `items` as the List* operations return them: MaxItems (1..10,000, default 50)
// from Marker on; NextMarker (an opaque offset) when more follow.
template <typename T, typename ToJson>
json page_of(const std::vector<T>& items, const Route& route, const char* key, ToJson to_json) {
  size_t start = 0, max = 50;
  try {
    if (auto m = query_or(route, "Marker"); !m.empty()) start = std::stoul(m);
    if (auto n = query_or(route, "MaxItems"); !n.empty()) max = std::stoul(n);
  } catch (const std::exception&) {
    throw invalid_parameter("Marker and MaxItems must be whole numbers (a Marker is a NextMarker returned before)");
  }
  if (max < 1 || max > 10000) throw invalid_parameter("MaxItems must be between 1 and 10000");
  if (start > items.size()) throw invalid_parameter("Marker is past the end of the list");
  json out = {{key, json::array()}};
  size_t end = std::min(items.size(), start + max);
  for (size_t i = start; i < end; ++i) out[key].push_back(to_json(items[i]));
  if (end < items.size()) out["NextMarker"] = std::to_string(end);
  return out;
}

// {VersionNumber}: a layer version, 1 or more.
unsigned layer_version_number(const std::string& s) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos || s[0] == '0')
    throw invalid_parameter("VersionNumber '" + s + "' is not a layer version number");
  return unsigned(std::stoul(s));
}

}  // namespace

LambdaApi::LambdaApi(Engine& engine, ApiOptions options) : engine_(engine), options_(std::move(options)) {}

HttpResponse LambdaApi::handle(const HttpRequest& request) {
  std::string request_id = hooks::new_uuid_v4();
  HttpResponse r;
  try {
    // Unsigned like every Prometheus scrape: it tells counts, not functions' data.
    if (request.method == "GET" && request.target.substr(0, request.target.find('?')) == "/metrics")
      return metrics_response();
    if (options_.authenticate) options_.authenticate(request);
    r = dispatch(route(request.method, request.target), request, request_id);
  } catch (const ApiError& e) {
    r = error_response(e);
  } catch (const EngineError& e) {
    r = error_response(ApiError::from(e));
  } catch (const std::exception& e) {
    r = error_response(ApiError("ServiceException", 500, e.what()));
  }
  if (!r.header("x-amzn-RequestId")) r.set_header("x-amzn-RequestId", request_id);
  return r;
}

HttpResponse LambdaApi::metrics_response() const {
  HttpResponse r;
  r.status = 200;
  r.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  r.body = prometheus_text(engine_.metrics(), engine_.stats(), engine_.async_stats());
  return r;
}

HttpResponse LambdaApi::dispatch(const Route& route, const HttpRequest& request, const std::string& request_id) {
  const std::string qualifier = query_or(route, "Qualifier");
  switch (route.op) {
    case Operation::kInvoke: return invoke(route, request, request_id);
    case Operation::kInvokeAsync: {
      engine_.invoke_async({.function = route.function, .payload = request.body, .request_id = request_id});
      return json_response(202, {{"Status", 202}});
    }
    case Operation::kCreateFunction: return create_function(request);
    case Operation::kGetFunction: {
      json out = {{"Configuration", function_configuration(engine_.get_function(route.function, qualifier))},
                  {"Code", {{"RepositoryType", "S3"}}},
                  {"Tags", json::object()}};
      if (auto reserved = engine_.get_function_concurrency(route.function))
        out["Concurrency"] = {{"ReservedConcurrentExecutions", *reserved}};
      return json_response(200, out);
    }
    case Operation::kGetFunctionConfiguration:
      return json_response(200, function_configuration(engine_.get_function(route.function, qualifier)));
    case Operation::kListFunctions: return list_functions(route);
    case Operation::kUpdateFunctionCode: return update_function_code(route, request);
    case Operation::kUpdateFunctionConfiguration:
      return json_response(200, function_configuration(engine_.update_function_configuration(
                                    route.function, parse_update_configuration(request.body))));
    case Operation::kDeleteFunction: engine_.delete_function(route.function, qualifier); return no_content();
    case Operation::kPublishVersion: {
      auto in = parse_publish_version(request.body);
      return json_response(201, function_configuration(engine_.publish_version(route.function, in.description,
                                                                               in.code_sha256, in.revision_id)));
    }
    case Operation::kListVersionsByFunction: return list_versions(route);
    case Operation::kCreateAlias: {
      auto in = parse_alias(request.body, true);
      AliasSettings s{*in.function_version, in.description.value_or(""), in.routing ? *in.routing : std::nullopt};
      return json_response(201, alias_configuration(engine_.create_alias(route.function, in.name, s)));
    }
    case Operation::kGetAlias: return json_response(200, alias_configuration(engine_.get_alias(route.function, route.alias)));
    case Operation::kUpdateAlias: return update_alias(route, request);
    case Operation::kDeleteAlias: engine_.delete_alias(route.function, route.alias); return no_content();
    case Operation::kListAliases: return list_aliases(route);
    case Operation::kPutFunctionConcurrency: {
      unsigned n = parse_put_concurrency(request.body);
      engine_.put_function_concurrency(route.function, n);
      return json_response(200, {{"ReservedConcurrentExecutions", n}});
    }
    case Operation::kGetFunctionConcurrency: {
      json out = json::object();
      if (auto reserved = engine_.get_function_concurrency(route.function)) out["ReservedConcurrentExecutions"] = *reserved;
      return json_response(200, out);
    }
    case Operation::kDeleteFunctionConcurrency: engine_.delete_function_concurrency(route.function); return no_content();
    case Operation::kGetAccountSettings: return json_response(200, account_settings_json(engine_.account_settings()));
    case Operation::kPutProvisionedConcurrencyConfig: {
      unsigned n = parse_put_provisioned_concurrency(request.body);
      return json_response(202, provisioned_concurrency_json(engine_.put_provisioned_concurrency(route.function, qualifier, n)));
    }
    case Operation::kGetProvisionedConcurrencyConfig:
      return json_response(200, provisioned_concurrency_json(engine_.get_provisioned_concurrency(route.function, qualifier)));
    case Operation::kListProvisionedConcurrencyConfigs: {
      std::string arn = engine_.get_function(route.function).arn;
      json items = json::array();
      for (const auto& p : engine_.list_provisioned_concurrency(route.function))
        items.push_back(provisioned_concurrency_json(p, arn));
      return json_response(200, {{"ProvisionedConcurrencyConfigs", items}});
    }
    case Operation::kDeleteProvisionedConcurrencyConfig:
      engine_.delete_provisioned_concurrency(route.function, qualifier);
      return no_content();
    case Operation::kPutFunctionEventInvokeConfig:
    case Operation::kUpdateFunctionEventInvokeConfig: {
      auto u = parse_event_invoke_config(request.body);
      auto c = engine_.put_event_invoke_config(route.function, qualifier, u,
                                               route.op == Operation::kPutFunctionEventInvokeConfig);
      return json_response(200, event_invoke_config_json(c, engine_.get_function(route.function).arn));
    }
    case Operation::kGetFunctionEventInvokeConfig:
      return json_response(200, event_invoke_config_json(engine_.get_event_invoke_config(route.function, qualifier),
                                                         engine_.get_function(route.function).arn));
    case Operation::kDeleteFunctionEventInvokeConfig:
      engine_.delete_event_invoke_config(route.function, qualifier);
      return no_content();
    case Operation::kListFunctionEventInvokeConfigs: {
      std::string arn = engine_.get_function(route.function).arn;
      json items = json::array();
      for (const auto& c : engine_.list_event_invoke_configs(route.function))
        items.push_back(event_invoke_config_json(c, arn));
      return json_response(200, {{"FunctionEventInvokeConfigs", items}});
    }
    case Operation::kPublishLayerVersion:
    case Operation::kGetLayerVersion:
    case Operation::kGetLayerVersionByArn:
    case Operation::kListLayers:
    case Operation::kListLayerVersions:
    case Operation::kDeleteLayerVersion: return layer_operation(route, request);
  }
  throw ApiError("ServiceException", 500, "operation not dispatched");
}

FunctionInfo LambdaApi::publish_when_built(const std::string& function) {
  engine_.wait_until_ready(function, "$LATEST", std::chrono::minutes(15));
  return engine_.publish_version(function);
}

HttpResponse LambdaApi::create_function(const HttpRequest& request) {
  auto in = parse_create_function(request.body);
  auto f = engine_.create_function(in.name, in.settings, in.code);
  if (in.publish) f = publish_when_built(f.name);
  return json_response(201, function_configuration(f));
}

HttpResponse LambdaApi::update_function_code(const Route& route, const HttpRequest& request) {
  auto in = parse_update_code(request.body);
  if (in.dry_run) return json_response(200, function_configuration(engine_.get_function(route.function)));
  auto f = engine_.update_function_code(route.function, in.code, in.revision_id);
  if (in.publish) f = publish_when_built(f.name);
  return json_response(200, function_configuration(f));
}

HttpResponse LambdaApi::list_functions(const Route& route) {
  std::vector<FunctionInfo> all;
  if (query_or(route, "FunctionVersion") == "ALL") {
    for (const auto& f : engine_.list_functions())
      for (auto& v : engine_.list_versions(f.name)) all.push_back(std::move(v));
  } else {
    all = engine_.list_functions();
  }
  return json_response(200, page_of(all, route, "Functions", function_configuration));
}

HttpResponse LambdaApi::list_versions(const Route& route) {
  return json_response(200, page_of(engine_.list_versions(route.function), route, "Versions", function_configuration));
}

HttpResponse LambdaApi::list_aliases(const Route& route) {
  auto aliases = engine_.list_aliases(route.function);
  if (auto v = query_or(route, "FunctionVersion"); !v.empty())
    std::erase_if(aliases, [&](const AliasInfo& a) { return a.function_version != v; });
  return json_response(200, page_of(aliases, route, "Aliases", alias_configuration));
}

HttpResponse LambdaApi::layer_operation(const Route& route, const HttpRequest& request) {
  const std::string runtime = query_or(route, "CompatibleRuntime");
  switch (route.op) {
    case Operation::kPublishLayerVersion: {
      auto in = parse_publish_layer_version(request.body);
      return json_response(201, layer_version_json(engine_.publish_layer_version(route.layer, in.settings, in.content)));
    }
    case Operation::kGetLayerVersion:
      return json_response(200, layer_version_json(
                                    engine_.get_layer_version(route.layer, layer_version_number(route.layer_version))));
    case Operation::kGetLayerVersionByArn: {
      auto arn = query_or(route, "Arn");
      if (arn.empty()) throw invalid_parameter("Arn is required");
      return json_response(200, layer_version_json(engine_.get_layer_version_by_arn(arn)));
    }
    case Operation::kListLayers:
      return json_response(200, page_of(engine_.list_layers(runtime), route, "Layers", layers_list_item));
    case Operation::kListLayerVersions:
      return json_response(200, page_of(engine_.list_layer_versions(route.layer, runtime), route, "LayerVersions",
                                        layer_versions_list_item));
    case Operation::kDeleteLayerVersion:
      engine_.delete_layer_version(route.layer, layer_version_number(route.layer_version));
      return no_content();
    default: break;
  }
  throw ApiError("ServiceException", 500, "not a layer operation");
}

HttpResponse LambdaApi::update_alias(const Route& route, const HttpRequest& request) {
  auto in = parse_alias(request.body, false);
  auto current = engine_.get_alias(route.function, route.alias);
  AliasSettings s{in.function_version.value_or(current.function_version), in.description.value_or(current.description),
                  in.routing ? *in.routing : current.routing};
  return json_response(200, alias_configuration(engine_.update_alias(route.function, route.alias, s,
                                                                     in.revision_id.value_or(""))));
}

}  // namespace thaw::api
