#pragma once
// How the Lambda API names a function and one of its versions: a name ("my-fn"), a name with a
// qualifier ("my-fn:3", "my-fn:live", "my-fn:$LATEST"), a partial ARN
// ("123456789012:function:my-fn[:q]") or a full one
// ("arn:aws:lambda:us-east-1:123456789012:function:my-fn[:q]"); a separate Qualifier parameter
// must agree with a qualifier in the name.
#include <string>
#include <string_view>

namespace thaw::engine {

inline constexpr std::string_view kLatest = "$LATEST";

enum class QualifierKind { kNone, kLatest, kVersion, kAlias };

struct FunctionRef {
  std::string name;
  std::string qualifier;  // empty: none given
  QualifierKind kind = QualifierKind::kNone;
};

// Throws EngineError(kInvalidParameter) for a malformed name, ARN or qualifier, or a qualifier
// in the name that differs from `qualifier`.
FunctionRef parse_function_ref(std::string_view function, std::string_view qualifier = {});
// Throws EngineError(kInvalidParameter) unless `name` is 1-64 of [A-Za-z0-9_-].
void check_function_name(std::string_view name);
// Throws EngineError(kInvalidParameter) unless `alias` is a valid alias name (1-128 of
// [A-Za-z0-9_-], not all digits).
void check_alias_name(std::string_view alias);
QualifierKind qualifier_kind(std::string_view qualifier);  // validates; kNone for ""

std::string function_arn(std::string_view region, std::string_view account, std::string_view name,
                         std::string_view qualifier = {});

}  // namespace thaw::engine
