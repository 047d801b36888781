// thaw::Engine's layers: publishing, reading and deleting layer versions, and resolving a
// function's Layers into the versions its image unpacks under /opt.
#include <algorithm>
#include <set>

#include "engine/engine_impl.h"

namespace thaw {
using engine::LayerRecord;
using engine::LayerRef;
using engine::LayerUse;
using engine::LayerVersionRecord;

namespace {

[[noreturn]] void fail(ErrorCode code, const std::string& what) { throw EngineError(code, what); }

void check_layer_settings(const LayerSettings& s) {
  if (s.description.size() > 256) fail(ErrorCode::kInvalidParameter, "Description is longer than 256 characters");
  if (s.license_info.size() > 512) fail(ErrorCode::kInvalidParameter, "LicenseInfo is longer than 512 characters");
  if (s.compatible_runtimes.size() > 15)
    fail(ErrorCode::kInvalidParameter, "CompatibleRuntimes lists more than 15 runtimes");
  if (s.compatible_architectures.size() > 2)
    fail(ErrorCode::kInvalidParameter, "CompatibleArchitectures lists more than 2 architectures");
  for (const auto& a : s.compatible_architectures)
    if (a != "x86_64" && a != "arm64")
      fail(ErrorCode::kInvalidParameter, "CompatibleArchitectures: '" + a + "' is not x86_64 or arm64");
}

bool compatible(const LayerVersionRecord& v, const std::string& runtime) {
  const auto& rs = v.settings.compatible_runtimes;
  return runtime.empty() || std::find(rs.begin(), rs.end(), runtime) != rs.end();
}

}  // namespace

LayerVersionInfo Engine::Impl::layer_info(const LayerRecord& r, const LayerVersionRecord& v) const {
  LayerVersionInfo i;
  i.layer_name = r.name;
  i.layer_arn = engine::layer_arn(options.region, options.account_id, r.name);
  i.layer_version_arn = engine::layer_version_arn(options.region, options.account_id, r.name, v.version);
  i.version = v.version;
  i.settings = v.settings;
  i.created_date = v.created_date;
  i.code_sha256 = engine::hex_to_base64(v.code_sha256_hex);
  i.code_size = v.code_size;
  return i;
}

const LayerVersionRecord& Engine::Impl::layer_version_of(const LayerRef& ref) const {
  std::string arn = engine::layer_version_arn(ref.region.empty() ? options.region : ref.region,
                                              ref.account.empty() ? options.account_id : ref.account, ref.name,
                                              ref.version);
  bool here = (ref.region.empty() || ref.region == options.region) &&
              (ref.account.empty() || ref.account == options.account_id);
  auto it = here ? layers.find(ref.name) : layers.end();
  if (it == layers.end() || !it->second.versions.count(ref.version))
    fail(ErrorCode::kNotFound, "Layer version not found: " + arn);
  return it->second.versions.at(ref.version);
}

void Engine::Impl::check_unzipped_total(uint64_t code_unzipped, const std::vector<LayerUse>& uses) {
  uint64_t total = code_unzipped;
  for (const auto& u : uses) total += u.unzipped_size;
  if (total > engine::kMaxUnzippedBytes)
    fail(ErrorCode::kInvalidParameter, "Function code combined with layers exceeds the maximum allowed size of " +
                                           std::to_string(engine::kMaxUnzippedBytes) + " bytes. The actual size is " +
                                           std::to_string(total) + " bytes.");
}

std::vector<LayerUse> Engine::Impl::resolve_layers(const std::vector<std::string>& arns, uint64_t code_unzipped) const {
  if (arns.size() > kMaxFunctionLayers)
    fail(ErrorCode::kInvalidParameter, "Layers: a function takes at most " + std::to_string(kMaxFunctionLayers) +
                                           " layers (" + std::to_string(arns.size()) + " given)");
  std::vector<LayerUse> uses;
  std::set<std::string> names;
  for (const auto& arn : arns) {
    auto ref = engine::parse_layer_version_arn(arn);
    if (!names.insert(ref.name).second)
      fail(ErrorCode::kInvalidParameter, "Layers: two versions of layer " + ref.name + " are not allowed");
    const LayerVersionRecord* v = nullptr;
    try {
      v = &layer_version_of(ref);
    } catch (const EngineError&) {
      fail(ErrorCode::kInvalidParameter, "Layer version " + arn + " does not exist.");
    }
    uses.push_back({arn, v->code_sha256_hex, v->code_size, v->unzipped_size});
  }
  check_unzipped_total(code_unzipped, uses);
  return uses;
}

LayerVersionInfo Engine::publish_layer_version(const std::string& layer, const LayerSettings& settings,
                                               const FunctionCode& content) {
  auto ref = engine::parse_layer_name(layer);
  check_layer_settings(settings);
  auto stored = impl_->code.put(content);  // outside the lock: zipping a tree takes a while
  std::lock_guard lock(impl_->mu);
  LayerRecord next;
  if (auto it = impl_->layers.find(ref.name); it != impl_->layers.end()) next = it->second;
  next.name = ref.name;
  LayerVersionRecord v;
  v.version = ++next.last_version;
  v.settings = settings;
  v.created_date = engine::now_iso8601();
  v.code_sha256_hex = stored.sha256_hex;
  v.code_size = stored.size;
  v.unzipped_size = stored.unzipped_size;
  next.versions[v.version] = v;
  try {
    impl_->layer_store.save(next);
  } catch (const std::exception& e) {
    fail(ErrorCode::kInternal, std::string("could not write the layer record: ") + e.what());
  }
  auto& placed = impl_->layers[ref.name] = std::move(next);
  return impl_->layer_info(placed, placed.versions.at(v.version));
}

LayerVersionInfo Engine::get_layer_version(const std::string& layer, unsigned version) const {
  auto ref = engine::parse_layer_name(layer);
  ref.version = version;
  std::lock_guard lock(impl_->mu);
  const auto& v = impl_->layer_version_of(ref);
  return impl_->layer_info(impl_->layers.at(ref.name), v);
}

LayerVersionInfo Engine::get_layer_version_by_arn(const std::string& arn) const {
  auto ref = engine::parse_layer_version_arn(arn);
  std::lock_guard lock(impl_->mu);
  const auto& v = impl_->layer_version_of(ref);
  return impl_->layer_info(impl_->layers.at(ref.name), v);
}

std::vector<LayerVersionInfo> Engine::list_layers(const std::string& compatible_runtime) const {
  std::lock_guard lock(impl_->mu);
  std::vector<LayerVersionInfo> out;
  for (const auto& [name, r] : impl_->layers)
    for (auto it = r.versions.rbegin(); it != r.versions.rend(); ++it)
      if (compatible(it->second, compatible_runtime)) {
        out.push_back(impl_->layer_info(r, it->second));
        break;
      }
  return out;
}

std::vector<LayerVersionInfo> Engine::list_layer_versions(const std::string& layer,
                                                          const std::string& compatible_runtime) const {
  auto ref = engine::parse_layer_name(layer);
  std::lock_guard lock(impl_->mu);
  std::vector<LayerVersionInfo> out;
  auto it = impl_->layers.find(ref.name);
  if (it == impl_->layers.end()) return out;  // Lambda lists none rather than failing
  for (auto v = it->second.versions.rbegin(); v != it->second.versions.rend(); ++v)
    if (compatible(v->second, compatible_runtime)) out.push_back(impl_->layer_info(it->second, v->second));
  return out;
}

void Engine::delete_layer_version(const std::string& layer, unsigned version) {
  auto ref = engine::parse_layer_name(layer);
  std::lock_guard lock(impl_->mu);
  auto it = impl_->layers.find(ref.name);
  if (it == impl_->layers.end() || !it->second.versions.count(version)) return;
  LayerRecord next = it->second;
  std::string content = next.versions.at(version).code_sha256_hex;
  next.versions.erase(version);
  try {
    impl_->layer_store.save(next);
  } catch (const std::exception& e) {
    fail(ErrorCode::kInternal, std::string("could not write the layer record: ") + e.what());
  }
  it->second = std::move(next);
  std::set<std::string> code_refs, images, snapshots;
  impl_->references(code_refs, images, snapshots);
  if (!code_refs.count(content)) impl_->code.remove_unless_pinned(content);
}

}  // namespace thaw
