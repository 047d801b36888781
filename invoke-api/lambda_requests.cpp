#include "invoke-api/lambda_requests.h"

#include <regex>

#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "invoke-api/api_error.h"

namespace thaw::api {

namespace {
using nlohmann::json;

// A request body's members, read with the types the model gives them; a member of the wrong
// type is named in the error.
class Body {
 public:
  explicit Body(const std::string& text) {
    if (text.empty()) {
      j_ = json::object();
      return;
    }
    j_ = json::parse(text, nullptr, false);
    if (j_.is_discarded() || !j_.is_object())
      throw invalid_request_content("the request body is not a JSON object");
  }
  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }
  std::optional<std::string> string(const char* key) const {
    if (!has(key)) return std::nullopt;
    if (!j_[key].is_string()) throw wrong_type(key, "a string");
    return j_[key].get<std::string>();
  }
  std::string required(const char* key) const {
    auto s = string(key);
    if (!s) throw invalid_parameter(std::string(key) + " is required");
    return *s;
  }
  std::optional<unsigned> uint(const char* key) const {
    if (!has(key)) return std::nullopt;
    if (!j_[key].is_number_integer() || j_[key].get<int64_t>() < 0 || j_[key].get<int64_t>() > 1'000'000)
      throw wrong_type(key, "a whole number");
    return j_[key].get<unsigned>();
  }
  bool boolean(const char* key) const {
    if (!has(key)) return false;
    if (!j_[key].is_boolean()) throw wrong_type(key, "true or false");
    return j_[key].get<bool>();
  }
  const json* object(const char* key) const {
    if (!has(key)) return nullptr;
    if (!j_[key].is_object()) throw wrong_type(key, "an object");
    return &j_[key];
  }
  const json* array(const char* key) const {
    if (!has(key)) return nullptr;
    if (!j_[key].is_array()) throw wrong_type(key, "a list");
    return &j_[key];
  }

  static ApiError wrong_type(const char* key, const char* what) {
    return invalid_parameter(std::string(key) + " must be " + what);
  }

 private:
  json j_;
};

std::map<std::string, std::string> environment_of(const Body& b) {
  std::map<std::string, std::string> out;
  const json* env = b.object("Environment");
  if (!env || !env->contains("Variables") || (*env)["Variables"].is_null()) return out;
  const json& vars = (*env)["Variables"];
  if (!vars.is_object()) throw invalid_parameter("Environment.Variables must be an object of strings");
  for (const auto& [k, v] : vars.items()) {
    if (!v.is_string()) throw invalid_parameter("Environment.Variables." + k + " must be a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

SnapStartApplyOn snap_start_of(const json& s) {
  auto on = s.value("ApplyOn", json("None"));
  if (on == "PublishedVersions") return SnapStartApplyOn::kPublishedVersions;
  if (on == "None") return SnapStartApplyOn::kNone;
  throw invalid_parameter("SnapStart.ApplyOn must be PublishedVersions or None");
}

std::string zip_bytes(const std::string& base64) {
  auto bytes = base64_decode(base64);
  if (!bytes) throw invalid_parameter("ZipFile is not valid base64");
  if (bytes->empty()) throw invalid_parameter("ZipFile is empty");
  return *bytes;
}

void refuse_unsupported(const Body& b) {
  if (auto p = b.string("PackageType"); p && *p != "Zip")
    throw invalid_parameter("PackageType " + *p + " is not supported: thaw runs .zip packages");
  if (const json* a = b.array("Architectures"); a && (a->size() != 1 || (*a)[0] != "x86_64"))
    throw invalid_parameter("Architectures: thaw runs x86_64 only");
  if (b.string("ImageUri")) throw invalid_parameter("container images are not supported: send the code as ZipFile");
}

std::vector<std::string> strings_of(const Body& b, const char* key) {
  std::vector<std::string> out;
  if (const json* a = b.array(key))
    for (const auto& v : *a) {
      if (!v.is_string()) throw invalid_parameter(std::string(key) + " must be a list of strings");
      out.push_back(v.get<std::string>());
    }
  return out;
}

// thaw has no VPCs. What a function's subnets give it on AWS, reach to the servers in them, is
// what VpcConfig.SubnetIds give it here: each is a destination its sandboxes may connect to,
// ADDRESS[/PREFIX][:PORT] (the engine checks them); SecurityGroupIds are not used. nullopt
// when the request has no VpcConfig; {} for one without subnets (no network).
std::optional<std::vector<std::string>> network_allow_of(const Body& b) {
  const json* vpc = b.object("VpcConfig");
  if (!vpc) return std::nullopt;
  std::vector<std::string> out;
  auto subnets = vpc->find("SubnetIds");
  if (subnets == vpc->end() || subnets->is_null()) return out;
  if (!subnets->is_array()) throw invalid_parameter("VpcConfig.SubnetIds must be a list of strings");
  for (const auto& v : *subnets) {
    if (!v.is_string()) throw invalid_parameter("VpcConfig.SubnetIds must be a list of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

// The package of CreateFunction's Code and PublishLayerVersion's Content: ZipFile only.
std::string zip_of(const json* code, const char* member) {
  if (!code) throw invalid_parameter(std::string(member) + " is required");
  if (code->contains("S3Bucket") || code->contains("S3Key") || code->contains("ImageUri"))
    throw invalid_parameter(std::string(member) +
                            ": thaw takes the package as ZipFile (S3 and container images are not supported)");
  if (!code->contains("ZipFile") || !(*code)["ZipFile"].is_string())
    throw invalid_parameter(std::string(member) + ".ZipFile is required");
  return zip_bytes((*code)["ZipFile"].get<std::string>());
}

// DeadLetterConfig {TargetArn}: nullopt when absent; "" (none) for {} or an empty TargetArn.
std::optional<std::string> dead_letter_target_of(const Body& b) {
  const json* d = b.object("DeadLetterConfig");
  if (!d) return std::nullopt;
  if (!d->contains("TargetArn") || (*d)["TargetArn"].is_null()) return std::string();
  if (!(*d)["TargetArn"].is_string()) throw Body::wrong_type("TargetArn", "a string");
  return (*d)["TargetArn"].get<std::string>();
}

void check_role(const std::string& role) {
  if (!is_role_arn(role))
    throw invalid_parameter("1 validation error detected: Value '" + role +
                            "' at 'role' failed to satisfy constraint: Member must satisfy regular expression "
                            "pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+");
}

}  // namespace

bool is_role_arn(const std::string& role) {
  static const std::regex kRole(R"(arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-/]+)");
  return role.size() <= 2048 && std::regex_match(role, kRole);
}

CreateFunctionInput parse_create_function(const std::string& body) {
  Body b(body);
  refuse_unsupported(b);
  CreateFunctionInput in;
  in.name = b.required("FunctionName");
  in.settings.role = b.required("Role");
  check_role(in.settings.role);
  in.settings.runtime = b.required("Runtime");
  in.settings.handler = b.string("Handler").value_or("");
  in.settings.description = b.string("Description").value_or("");
  in.settings.timeout_s = b.uint("Timeout").value_or(0);
  in.settings.memory_mb = b.uint("MemorySize").value_or(0);
  in.settings.environment = environment_of(b);
  if (const json* s = b.object("SnapStart")) in.settings.snap_start = snap_start_of(*s);
  in.settings.dead_letter_target = dead_letter_target_of(b).value_or("");
  in.settings.layers = strings_of(b, "Layers");
  in.settings.network_allow = network_allow_of(b).value_or(std::vector<std::string>{});
  in.publish = b.boolean("Publish");
  in.code.zip_bytes = zip_of(b.object("Code"), "Code");
  return in;
}

FunctionSettingsUpdate parse_update_configuration(const std::string& body) {
  Body b(body);
  refuse_unsupported(b);
  FunctionSettingsUpdate u;
  u.role = b.string("Role");
  if (u.role) check_role(*u.role);
  u.runtime = b.string("Runtime");
  u.handler = b.string("Handler");
  u.description = b.string("Description");
  u.timeout_s = b.uint("Timeout");
  u.memory_mb = b.uint("MemorySize");
  if (b.object("Environment")) u.environment = environment_of(b);
  if (const json* s = b.object("SnapStart")) u.snap_start = snap_start_of(*s);
  u.dead_letter_target = dead_letter_target_of(b);
  if (b.array("Layers")) u.layers = strings_of(b, "Layers");
  u.network_allow = network_allow_of(b);
  u.revision_id = b.string("RevisionId");
  return u;
}

UpdateCodeInput parse_update_code(const std::string& body) {
  Body b(body);
  refuse_unsupported(b);
  if (b.string("S3Bucket") || b.string("S3Key"))
    throw invalid_parameter("thaw takes the package as ZipFile (S3 is not supported)");
  UpdateCodeInput in;
  in.code.zip_bytes = zip_bytes(b.required("ZipFile"));
  in.publish = b.boolean("Publish");
  in.dry_run = b.boolean("DryRun");
  in.revision_id = b.string("RevisionId").value_or("");
  return in;
}

PublishInput parse_publish_version(const std::string& body) {
  Body b(body);
  return {b.string("CodeSha256").value_or(""), b.string("Description").value_or(""),
          b.string("RevisionId").value_or("")};
}

AliasInput parse_alias(const std::string& body, bool create) {
  Body b(body);
  AliasInput in;
  if (create) {
    in.name = b.required("Name");
    in.function_version = b.required("FunctionVersion");
  } else {
    in.function_version = b.string("FunctionVersion");
  }
  in.description = b.string("Description");
  in.revision_id = b.string("RevisionId");
  if (const json* rc = b.object("RoutingConfig")) {
    std::optional<AliasRouting> routing;
    if (rc->contains("AdditionalVersionWeights") && !(*rc)["AdditionalVersionWeights"].is_null()) {
      const json& w = (*rc)["AdditionalVersionWeights"];
      if (!w.is_object() || w.size() > 1)
        throw invalid_parameter("RoutingConfig.AdditionalVersionWeights takes one version and its weight");
      for (const auto& [version, weight] : w.items()) {
        if (!weight.is_number()) throw invalid_parameter("the weight of version " + version + " must be a number");
        routing = AliasRouting{version, weight.get<double>()};
      }
    }
    in.routing = routing;
  }
  return in;
}

unsigned parse_put_concurrency(const std::string& body) {
  auto n = Body(body).uint("ReservedConcurrentExecutions");
  if (!n) throw invalid_parameter("ReservedConcurrentExecutions is required");
  return *n;
}

unsigned parse_put_provisioned_concurrency(const std::string& body) {
  auto n = Body(body).uint("ProvisionedConcurrentExecutions");
  if (!n) throw invalid_parameter("ProvisionedConcurrentExecutions is required");
  return *n;
}

PublishLayerInput parse_publish_layer_version(const std::string& body) {
  Body b(body);
  PublishLayerInput in;
  in.settings.description = b.string("Description").value_or("");
  in.settings.license_info = b.string("LicenseInfo").value_or("");
  in.settings.compatible_runtimes = strings_of(b, "CompatibleRuntimes");
  in.settings.compatible_architectures = strings_of(b, "CompatibleArchitectures");
  in.content.zip_bytes = zip_of(b.object("Content"), "Content");
  return in;
}

EventInvokeConfigUpdate parse_event_invoke_config(const std::string& body) {
  Body b(body);
  EventInvokeConfigUpdate u;
  u.maximum_retry_attempts = b.uint("MaximumRetryAttempts");
  u.maximum_event_age_s = b.uint("MaximumEventAgeInSeconds");
  if (const json* d = b.object("DestinationConfig")) {
    auto destination = [&](const char* key) -> std::optional<std::string> {
      if (!d->contains(key) || (*d)[key].is_null()) return std::nullopt;
      const auto& o = (*d)[key];
      if (!o.is_object()) throw Body::wrong_type(key, "an object");
      if (!o.contains("Destination") || o["Destination"].is_null()) return std::string();
      if (!o["Destination"].is_string()) throw Body::wrong_type("Destination", "a string");
      return o["Destination"].get<std::string>();
    };
    u.on_success = destination("OnSuccess");
    u.on_failure = destination("OnFailure");
  }
  return u;
}

}  // namespace thaw::api
