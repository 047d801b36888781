#pragma once
// The Lambda API's JSON shapes (botocore's lambda/2015-03-31 model) for what thaw::Engine
// returns: FunctionConfiguration and AliasConfiguration. Used by `thaw serve`
// and by the CLI's --json output, so both print the same documents.
#include <nlohmann/json.hpp>

#include "thaw/engine.h"

namespace thaw::api {

nlohmann::json function_configuration(const FunctionInfo& f);
nlohmann::json alias_configuration(const AliasInfo& a);

}  // namespace thaw::api
