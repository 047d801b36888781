#pragma once
// How the Lambda API names a layer ("my-layer", or arn:aws:lambda:REGION:ACCOUNT:layer:my-layer)
// and one of its versions (the layer's ARN with ":VERSION").
#include <string>
#include <string_view>

namespace thaw::engine {

struct LayerRef {
  std::string region, account;  // empty for a bare name
  std::string name;
  unsigned version = 0;  // 0: none given
};

// A layer name or layer ARN (no version). Throws EngineError(kInvalidParameter) otherwise.
LayerRef parse_layer_name(std::string_view name_or_arn);
// A layer version ARN. Throws EngineError(kInvalidParameter) otherwise.
LayerRef parse_layer_version_arn(std::string_view arn);

std::string layer_arn(std::string_view region, std::string_view account, std::string_view name);
std::string layer_version_arn(std::string_view region, std::string_view account, std::string_view name,
                              unsigned version);

}  // namespace thaw::engine
