#pragma once
// Which operation of the Lambda API (as botocore's model declares its paths and methods: the
// function operations under /2015-03-31/, concurrency under /2017-10-31/ and /2019-09-30/, asynchronous
// invocation configs under /2019-09-25/, the
// account's settings under /2016-08-19/, layers under /2018-10-31/) a request's method and target name, with the path's labels and the query decoded.
#include <map>
#include <string>
#include <string_view>

namespace thaw::api {

enum class Operation {
  kInvoke,
  kInvokeAsync,  // the deprecated 2014-11-13 InvokeAsync: an Event invocation
  kCreateFunction,
  kGetFunction,
  kGetFunctionConfiguration,
  kListFunctions,
  kUpdateFunctionCode,
  kUpdateFunctionConfiguration,
  kDeleteFunction,
  kPublishVersion,
  kListVersionsByFunction,
  kCreateAlias,
  kGetAlias,
  kUpdateAlias,
  kDeleteAlias,
  kListAliases,
  kPutFunctionConcurrency,
  kGetFunctionConcurrency,
  kDeleteFunctionConcurrency,
  kGetAccountSettings,
  kPutProvisionedConcurrencyConfig,
  kGetProvisionedConcurrencyConfig,
  kListProvisionedConcurrencyConfigs,  // GET with List=ALL
  kDeleteProvisionedConcurrencyConfig,
  kPutFunctionEventInvokeConfig,
  kUpdateFunctionEventInvokeConfig,
  kGetFunctionEventInvokeConfig,
  kDeleteFunctionEventInvokeConfig,
  kListFunctionEventInvokeConfigs,
  kPublishLayerVersion,
  kGetLayerVersion,
  kGetLayerVersionByArn,  // GET /layers with find=LayerVersion
  kListLayers,
  kListLayerVersions,
  kDeleteLayerVersion,
};

std::string_view name_of(Operation op);  // "Invoke", "CreateFunction", ...

struct Route {
  Operation op = Operation::kInvoke;
  std::string function{};  // {FunctionName}: a name or an ARN, decoded
  std::string alias{};     // {Name} of the alias operations
  std::string layer{};     // {LayerName}: a name or a layer ARN, decoded
  std::string layer_version{};  // {VersionNumber}
  std::map<std::string, std::string> query{};
};

// Throws ApiError: 404 UnknownOperationException for a path or method the API does not have,
// 400 for a target that does not decode.
Route route(std::string_view method, std::string_view target);

// %XX escapes decoded; throws ApiError (400) on a malformed one.
std::string percent_decode(std::string_view s);

}  // namespace thaw::api
