#include "engine/qualifier.h"

#include <algorithm>

#include "engine/arn_parts.h"
#include "thaw/error.h"

namespace thaw::engine {
namespace {

[[noreturn]] void invalid(const std::string& what) { throw EngineError(ErrorCode::kInvalidParameter, what); }

void check_account(std::string_view account, std::string_view function) {
  if (account.size() != 12 || !all_digits(account))
    invalid("function ARN '" + std::string(function) + "' has no 12-digit account id");
}

}  // namespace

void check_function_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || !std::all_of(name.begin(), name.end(), is_name_char))
    invalid("function name '" + std::string(name) +
            "' must be 1 to 64 letters, digits, '-' or '_' (or a function ARN)");
}

void check_alias_name(std::string_view alias) {
  if (alias.empty() || alias.size() > 128 || !std::all_of(alias.begin(), alias.end(), is_name_char) ||
      all_digits(alias))
    invalid("alias name '" + std::string(alias) +
            "' must be 1 to 128 letters, digits, '-' or '_', and not a version number");
}

QualifierKind qualifier_kind(std::string_view q) {
  if (q.empty()) return QualifierKind::kNone;
  if (q == kLatest) return QualifierKind::kLatest;
  if (all_digits(q)) {
    if (q.size() > 10 || q[0] == '0') invalid("version '" + std::string(q) + "' is not a version number");
    return QualifierKind::kVersion;
  }
  check_alias_name(q);
  return QualifierKind::kAlias;
}

FunctionRef parse_function_ref(std::string_view function, std::string_view qualifier) {
  if (function.empty()) invalid("a function name is required");
  if (function.size() > 170) invalid("function name or ARN is longer than 170 characters");
  auto parts = split(function, ':');
  std::string_view name, in_name;
  if (parts[0] == "arn") {
    // arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
    if (parts.size() < 7 || parts.size() > 8 || parts[2] != "lambda" || parts[5] != "function" ||
        parts[1].empty() || parts[3].empty())
      invalid("'" + std::string(function) + "' is not a Lambda function ARN "
              "(arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER])");
    check_account(parts[4], function);
    name = parts[6];
    if (parts.size() == 8) in_name = parts[7];
  } else if (parts.size() >= 3 && parts[1] == "function") {
    // ACCOUNT:function:NAME[:QUALIFIER]
    if (parts.size() > 4) invalid("'" + std::string(function) + "' is not a partial function ARN");
    check_account(parts[0], function);
    name = parts[2];
    if (parts.size() == 4) in_name = parts[3];
  } else {
    if (parts.size() > 2) invalid("'" + std::string(function) + "' is not a function name or ARN");
    name = parts[0];
    if (parts.size() == 2) in_name = parts[1];
  }
  check_function_name(name);
  if (parts.size() > 1 && in_name.empty() && function.back() == ':')
    invalid("'" + std::string(function) + "' ends with an empty qualifier");
  if (!in_name.empty() && !qualifier.empty() && in_name != qualifier)
    invalid("the qualifier in the function name ('" + std::string(in_name) +
            "') does not match the Qualifier parameter ('" + std::string(qualifier) + "')");
  FunctionRef ref;
  ref.name = std::string(name);
  ref.qualifier = std::string(in_name.empty() ? qualifier : in_name);
  ref.kind = qualifier_kind(ref.qualifier);
  return ref;
}

std::string function_arn(std::string_view region, std::string_view account, std::string_view name,
                         std::string_view qualifier) {
  std::string arn = "arn:aws:lambda:" + std::string(region) + ":" + std::string(account) + ":function:" +
                    std::string(name);
  if (!qualifier.empty()) arn += ":" + std::string(qualifier);
  return arn;
}

}  // namespace thaw::engine
