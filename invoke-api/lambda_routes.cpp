#include "invoke-api/lambda_routes.h"

#include <vector>

#include "invoke-api/api_error.h"

namespace thaw::api {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
  std::map<std::string, std::string> out;
  if (q.empty()) return out;
  for (auto pair : split(q, '&')) {
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq));
    out.emplace(std::move(key), eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1)));
  }
  return out;
}

[[noreturn]] void unknown(std::string_view method, std::string_view path) {
  throw ApiError("UnknownOperationException", 404,
                 "no operation of the Lambda API is " + std::string(method) + " " + std::string(path) +
                     " (thaw serves the Lambda API 2015-03-31: /2015-03-31/functions/...)");
}

// The operation of a path under /2015-03-31/functions: `parts` are the segments after it.
Operation function_operation(std::string_view m, const std::vector<std::string_view>& parts, std::string_view path) {
  auto is = [&](std::string_view want) { return m == want; };
  if (parts.empty()) {
    if (is("POST")) return Operation::kCreateFunction;
    if (is("GET")) return Operation::kListFunctions;
  } else if (parts.size() == 1) {
    if (is("GET")) return Operation::kGetFunction;
    if (is("DELETE")) return Operation::kDeleteFunction;
  } else if (parts.size() == 2) {
    auto sub = parts[1];
    if (sub == "invocations" && is("POST")) return Operation::kInvoke;
    if (sub == "configuration" && is("GET")) return Operation::kGetFunctionConfiguration;
    if (sub == "configuration" && is("PUT")) return Operation::kUpdateFunctionConfiguration;
    if (sub == "code" && is("PUT")) return Operation::kUpdateFunctionCode;
    if (sub == "versions" && is("POST")) return Operation::kPublishVersion;
    if (sub == "versions" && is("GET")) return Operation::kListVersionsByFunction;
    if (sub == "aliases" && is("POST")) return Operation::kCreateAlias;
    if (sub == "aliases" && is("GET")) return Operation::kListAliases;
  } else if (parts.size() == 3 && parts[1] == "aliases") {
    if (is("GET")) return Operation::kGetAlias;
    if (is("PUT")) return Operation::kUpdateAlias;
    if (is("DELETE")) return Operation::kDeleteAlias;
  }
  unknown(m, path);
}

// A function's reserved concurrency: PUT and DELETE under 2017-10-31, GET under 2019-09-30 (each
// is taken under either, as the model has moved them between dates).
Operation concurrency_operation(std::string_view m, std::string_view path) {
  if (m == "PUT") return Operation::kPutFunctionConcurrency;
  if (m == "GET") return Operation::kGetFunctionConcurrency;
  if (m == "DELETE") return Operation::kDeleteFunctionConcurrency;
  unknown(m, path);
}

// The layer operations under /2018-10-31/layers: `parts` are the segments after it.
Route layer_route(std::string_view m, const std::vector<std::string_view>& parts, std::string_view path, Route r) {
  if (parts.empty() && m == "GET") {
    auto find = r.query.find("find");
    r.op = find != r.query.end() && find->second == "LayerVersion" ? Operation::kGetLayerVersionByArn
                                                                    : Operation::kListLayers;
    return r;
  }
  if (parts.size() < 2 || parts.size() > 3 || parts[1] != "versions") unknown(m, path);
  r.layer = percent_decode(parts[0]);
  if (parts.size() == 2) {
    if (m == "POST") r.op = Operation::kPublishLayerVersion;
    else if (m == "GET") r.op = Operation::kListLayerVersions;
    else unknown(m, path);
    return r;
  }
  r.layer_version = percent_decode(parts[2]);
  if (m == "GET") r.op = Operation::kGetLayerVersion;
  else if (m == "DELETE") r.op = Operation::kDeleteLayerVersion;
  else unknown(m, path);
  return r;
}

}  // namespace

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1, lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) throw invalid_request_content("malformed percent-escape in the request's target");
    out += char(hi * 16 + lo);
    i += 2;
  }
  return out;
}

Route route(std::string_view method, std::string_view target) {
  auto qmark = target.find('?');
  std::string_view path = target.substr(0, qmark);
  Route r;
  if (qmark != std::string_view::npos) r.query = parse_query(target.substr(qmark + 1));
  // Segments split before decoding: an ARN's ':' may come escaped, a '/' inside a label cannot.
  auto parts = split(path, '/');
  if (parts.size() < 3 || !parts[0].empty()) unknown(method, path);
  auto version = parts[1], collection = parts[2];
  parts.erase(parts.begin(), parts.begin() + 3);
  if (!parts.empty() && parts.back().empty()) parts.pop_back();  // a trailing slash
  for (auto p : parts)
    if (p.empty()) unknown(method, path);
  if (collection == "account-settings" && version == "2016-08-19" && parts.empty() && method == "GET") {
    r.op = Operation::kGetAccountSettings;
    return r;
  }
  if (collection == "layers" && version == "2018-10-31") return layer_route(method, parts, path, std::move(r));
  if (collection != "functions") unknown(method, path);
  if (version == "2019-09-30" && parts.size() == 2 && parts[1] == "provisioned-concurrency") {
    r.function = percent_decode(parts[0]);
    if (method == "PUT") r.op = Operation::kPutProvisionedConcurrencyConfig;
    else if (method == "DELETE") r.op = Operation::kDeleteProvisionedConcurrencyConfig;
    else if (method == "GET")
      r.op = r.query.contains("List") ? Operation::kListProvisionedConcurrencyConfigs
                                      : Operation::kGetProvisionedConcurrencyConfig;
    else unknown(method, path);
    return r;
  }
  if (version == "2019-09-25" && parts.size() >= 2 && parts[1] == "event-invoke-config") {
    r.function = percent_decode(parts[0]);
    if (parts.size() == 3 && parts[2] == "list" && method == "GET") r.op = Operation::kListFunctionEventInvokeConfigs;
    else if (parts.size() != 2) unknown(method, path);
    else if (method == "PUT") r.op = Operation::kPutFunctionEventInvokeConfig;
    else if (method == "POST") r.op = Operation::kUpdateFunctionEventInvokeConfig;
    else if (method == "GET") r.op = Operation::kGetFunctionEventInvokeConfig;
    else if (method == "DELETE") r.op = Operation::kDeleteFunctionEventInvokeConfig;
    else unknown(method, path);
    return r;
  }
  if ((version == "2017-10-31" || version == "2019-09-30") && parts.size() == 2 && parts[1] == "concurrency") {
    r.op = concurrency_operation(method, path);
    r.function = percent_decode(parts[0]);
    return r;
  }
  if (version == "2014-11-13") {
    if (parts.size() == 2 && parts[1] == "invoke-async" && method == "POST") {
      r.op = Operation::kInvokeAsync;
      r.function = percent_decode(parts[0]);
      return r;
    }
    unknown(method, path);
  }
  if (version != "2015-03-31") unknown(method, path);
  r.op = function_operation(method, parts, path);
  if (!parts.empty()) r.function = percent_decode(parts[0]);
  if (parts.size() == 3) r.alias = percent_decode(parts[2]);
  return r;
}

std::string_view name_of(Operation op) {
  switch (op) {
    case Operation::kInvoke: return "Invoke";
    case Operation::kInvokeAsync: return "InvokeAsync";
    case Operation::kCreateFunction: return "CreateFunction";
    case Operation::kGetFunction: return "GetFunction";
    case Operation::kGetFunctionConfiguration: return "GetFunctionConfiguration";
    case Operation::kListFunctions: return "ListFunctions";
    case Operation::kUpdateFunctionCode: return "UpdateFunctionCode";
    case Operation::kUpdateFunctionConfiguration: return "UpdateFunctionConfiguration";
    case Operation::kDeleteFunction: return "DeleteFunction";
    case Operation::kPublishVersion: return "PublishVersion";
    case Operation::kListVersionsByFunction: return "ListVersionsByFunction";
    case Operation::kCreateAlias: return "CreateAlias";
    case Operation::kGetAlias: return "GetAlias";
    case Operation::kUpdateAlias: return "UpdateAlias";
    case Operation::kDeleteAlias: return "DeleteAlias";
    case Operation::kListAliases: return "ListAliases";
    case Operation::kPutFunctionConcurrency: return "PutFunctionConcurrency";
    case Operation::kGetFunctionConcurrency: return "GetFunctionConcurrency";
    case Operation::kDeleteFunctionConcurrency: return "DeleteFunctionConcurrency";
    case Operation::kGetAccountSettings: return "GetAccountSettings";
    case Operation::kPutProvisionedConcurrencyConfig: return "PutProvisionedConcurrencyConfig";
    case Operation::kGetProvisionedConcurrencyConfig: return "GetProvisionedConcurrencyConfig";
    case Operation::kListProvisionedConcurrencyConfigs: return "ListProvisionedConcurrencyConfigs";
    case Operation::kDeleteProvisionedConcurrencyConfig: return "DeleteProvisionedConcurrencyConfig";
    case Operation::kPutFunctionEventInvokeConfig: return "PutFunctionEventInvokeConfig";
    case Operation::kUpdateFunctionEventInvokeConfig: return "UpdateFunctionEventInvokeConfig";
    case Operation::kGetFunctionEventInvokeConfig: return "GetFunctionEventInvokeConfig";
    case Operation::kDeleteFunctionEventInvokeConfig: return "DeleteFunctionEventInvokeConfig";
    case Operation::kListFunctionEventInvokeConfigs: return "ListFunctionEventInvokeConfigs";
    case Operation::kPublishLayerVersion: return "PublishLayerVersion";
    case Operation::kGetLayerVersion: return "GetLayerVersion";
    case Operation::kGetLayerVersionByArn: return "GetLayerVersionByArn";
    case Operation::kListLayers: return "ListLayers";
    case Operation::kListLayerVersions: return "ListLayerVersions";
    case Operation::kDeleteLayerVersion: return "DeleteLayerVersion";
  }
  return "?";
}

}  // namespace thaw::api
