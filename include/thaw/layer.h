#pragma once
// Layers as the Lambda API defines them: named archives published as immutable, numbered
// versions that functions take (up to five, by version ARN) and that are unpacked in order
// under /opt in the function's image, later layers over earlier ones.
#include <cstdint>
#include <string>
#include <vector>

namespace thaw {

// What PublishLayerVersion takes besides the content (a FunctionCode: a directory, a .zip file
// or .zip bytes).
struct LayerSettings {
  std::string description{};
  std::string license_info{};
  std::vector<std::string> compatible_runtimes{};       // for ListLayers' filter only
  std::vector<std::string> compatible_architectures{};  // "x86_64" (the only one thaw runs)
};

// One layer version, as GetLayerVersion returns it.
struct LayerVersionInfo {
  std::string layer_name{}, layer_arn{}, layer_version_arn{};
  unsigned version = 0;
  LayerSettings settings{};
  std::string created_date{};  // ISO 8601
  std::string code_sha256{};   // base64 of the sha256 of its .zip
  uint64_t code_size = 0;      // bytes of its .zip
};

// A layer a function version takes (FunctionConfiguration's Layers).
struct FunctionLayer {
  std::string arn{};  // the layer version's ARN
  uint64_t code_size = 0;
};

// Lambda's limit on the layers of one function.
inline constexpr unsigned kMaxFunctionLayers = 5;

}  // namespace thaw
