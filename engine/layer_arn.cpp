#include "engine/layer_arn.h"

#include <algorithm>

#include "engine/arn_parts.h"
#include "thaw/error.h"

namespace thaw::engine {
namespace {

[[noreturn]] void invalid(const std::string& what) { throw EngineError(ErrorCode::kInvalidParameter, what); }

bool is_name(std::string_view s) {
  return !s.empty() && s.size() <= 140 && std::all_of(s.begin(), s.end(), is_name_char);
}

// arn:PARTITION:lambda:REGION:ACCOUNT:layer:NAME[:VERSION], with `with_version` parts.
bool parse_arn(std::string_view arn, bool with_version, LayerRef& out) {
  auto p = split(arn, ':');
  if (p.size() != (with_version ? 8u : 7u) || p[0] != "arn" || p[1].empty() || p[2] != "lambda" || p[3].empty() ||
      p[4].size() != 12 || !all_digits(p[4]) || p[5] != "layer" || !is_name(p[6]))
    return false;
  out.region = p[3];
  out.account = p[4];
  out.name = p[6];
  if (with_version) {
    if (!all_digits(p[7]) || p[7].size() > 9 || p[7][0] == '0') return false;
    out.version = unsigned(std::stoul(std::string(p[7])));
  }
  return true;
}

}  // namespace

LayerRef parse_layer_name(std::string_view s) {
  LayerRef r;
  if (is_name(s)) {
    r.name = s;
    return r;
  }
  if (s.size() <= 140 && parse_arn(s, false, r)) return r;
  invalid("layer name '" + std::string(s) +
          "' must be 1 to 140 letters, digits, '-' or '_', or a layer ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME)");
}

LayerRef parse_layer_version_arn(std::string_view s) {
  LayerRef r;
  if (s.size() <= 140 && parse_arn(s, true, r)) return r;
  invalid("'" + std::string(s) + "' is not a layer version ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)");
}

std::string layer_arn(std::string_view region, std::string_view account, std::string_view name) {
  return "arn:aws:lambda:" + std::string(region) + ":" + std::string(account) + ":layer:" + std::string(name);
}

std::string layer_version_arn(std::string_view region, std::string_view account, std::string_view name,
                              unsigned version) {
  return layer_arn(region, account, name) + ":" + std::to_string(version);
}

}  // namespace thaw::engine
