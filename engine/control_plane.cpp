// thaw::Engine's control plane: functions, $LATEST, published versions and aliases, as the
// Lambda API defines them. Every change is written to the function's record before it returns.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "base/error.h"
#include "engine/engine_impl.h"
#include "engine/net/sandbox_firewall.h"
#include "guest/image/function_config.h"
#include "restore-hooks/host_hooks.h"
#include "snapshot/chunk_store.h"
#include "snapshot/manifest.h"

namespace thaw {
using engine::AliasRecord;
using engine::FunctionRecord;
using engine::FunctionRef;
using engine::QualifierKind;
using engine::VersionRecord;
namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(ErrorCode code, const std::string& what) { throw EngineError(code, what); }

}  // namespace

std::string engine::now_iso8601() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000", t.tm_year + 1900, t.tm_mon + 1,
                t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, int(ts.tv_nsec / 1000000));
  return buf;
}

namespace {
using engine::now_iso8601;

// Lambda's defaults filled in, and Lambda's rules checked (InvalidParameterValueException).
// Each destination in its canonical form, once each, in the order given.
std::vector<std::string> normalized_network_allow(const std::vector<std::string>& allow) {
  constexpr size_t kMaxDestinations = 64;
  if (allow.size() > kMaxDestinations)
    fail(ErrorCode::kInvalidParameter, "network_allow has " + std::to_string(allow.size()) +
                                           " destinations; at most " + std::to_string(kMaxDestinations));
  std::vector<std::string> out;
  for (const auto& text : allow) {
    std::string canonical;
    try {
      canonical = engine::net::format_allowed_destination(engine::net::parse_allowed_destination(text));
    } catch (const Error& e) {
      fail(ErrorCode::kInvalidParameter, e.what());
    }
    if (std::find(out.begin(), out.end(), canonical) == out.end()) out.push_back(canonical);
  }
  return out;
}

FunctionSettings normalized(const std::string& name, FunctionSettings s) {
  image::FunctionConfig f;
  try {
    f.runtime = image::parse_runtime(s.runtime);
  } catch (const Error& e) {
    fail(ErrorCode::kInvalidParameter, e.what());
  }
  if (s.handler.empty()) s.handler = std::string(image::FunctionConfig::default_handler(f.runtime));
  if (s.memory_mb == 0) s.memory_mb = image::FunctionConfig::default_memory_mb(f.runtime);
  if (s.timeout_s == 0) s.timeout_s = image::FunctionConfig::kDefaultTimeoutS;
  f.name = name;
  f.handler = s.handler;
  f.memory_mb = s.memory_mb;
  f.timeout_s = s.timeout_s;
  f.environment = s.environment;
  try {
    f.validate();
  } catch (const Error& e) {
    fail(ErrorCode::kInvalidParameter, e.what());
  }
  if (s.description.size() > 256) fail(ErrorCode::kInvalidParameter, "description is longer than 256 characters");
  if (!s.dead_letter_target.empty() && !engine::queue_name_of_arn(s.dead_letter_target))
    fail(ErrorCode::kInvalidParameter, "DeadLetterConfig TargetArn " + s.dead_letter_target +
                                           " is not a queue (arn:aws:sqs:REGION:ACCOUNT:NAME or arn:thaw:queue:...): "
                                           "thaw keeps dead letters in its local queues");
  s.network_allow = normalized_network_allow(s.network_allow);
  return s;
}

void check_revision(const std::string& expected, const std::string& actual, const std::string& what) {
  if (!expected.empty() && expected != actual)
    fail(ErrorCode::kPreconditionFailed, "the RevisionId given (" + expected + ") is not the current one of " + what + " (" +
                                   actual + "): it changed since you read it");
}

void check_not_updating(const FunctionRecord& r) {
  if (r.latest.last_update_status == LastUpdateStatus::kInProgress)
    fail(ErrorCode::kConflict, "The operation cannot be performed at this time. An update is in progress for "
                               "resource: " + r.name);
}

void check_alias_settings(const FunctionRecord& r, const AliasSettings& s) {
  auto kind = engine::qualifier_kind(s.function_version);
  if (kind != QualifierKind::kVersion && kind != QualifierKind::kLatest)
    fail(ErrorCode::kInvalidParameter, "an alias points to a version number or $LATEST, not '" + s.function_version + "'");
  if (!r.find_version(s.function_version))
    fail(ErrorCode::kNotFound, "Function not found: " + r.name + ":" + s.function_version);
  if (s.description.size() > 256) fail(ErrorCode::kInvalidParameter, "description is longer than 256 characters");
  if (!s.routing) return;
  const auto& rt = *s.routing;
  if (kind == QualifierKind::kLatest)
    fail(ErrorCode::kInvalidParameter, "an alias that points to $LATEST cannot route to an additional version");
  if (engine::qualifier_kind(rt.version) != QualifierKind::kVersion || !r.find_version(rt.version))
    fail(ErrorCode::kInvalidParameter, "the additional version '" + rt.version + "' is not a published version of " + r.name);
  if (rt.version == s.function_version)
    fail(ErrorCode::kInvalidParameter, "the additional version must differ from the alias's version");
  if (!(rt.weight >= 0.0 && rt.weight <= 1.0))
    fail(ErrorCode::kInvalidParameter, "an additional version's weight must be between 0.0 and 1.0");
}

}  // namespace

FunctionRecord& Engine::Impl::record_of(const std::string& name) {
  return const_cast<FunctionRecord&>(std::as_const(*this).record_of(name));
}

const FunctionRecord& Engine::Impl::record_of(const std::string& name) const {
  auto it = records.find(name);
  if (it == records.end())
    fail(ErrorCode::kNotFound, "Function not found: " + engine::function_arn(options.region, options.account_id, name));
  return it->second;
}

const VersionRecord& Engine::Impl::resolve(const FunctionRecord& r, const FunctionRef& ref) const {
  std::string version = ref.qualifier.empty() ? std::string(engine::kLatest) : ref.qualifier;
  if (ref.kind == QualifierKind::kAlias) {
    auto it = r.aliases.find(ref.qualifier);
    if (it == r.aliases.end())
      fail(ErrorCode::kNotFound, "Function not found: " +
                                     engine::function_arn(options.region, options.account_id, r.name, ref.qualifier));
    version = it->second.function_version;
  }
  const VersionRecord* v = r.find_version(version);
  if (!v)
    fail(ErrorCode::kNotFound,
         "Function not found: " + engine::function_arn(options.region, options.account_id, r.name, version));
  return *v;
}

FunctionInfo Engine::Impl::info_of(const FunctionRecord& r, const VersionRecord& v) const {
  FunctionInfo i;
  i.name = r.name;
  i.version = v.version;
  i.arn = engine::function_arn(options.region, options.account_id, r.name,
                               v.version == engine::kLatest ? std::string_view() : std::string_view(v.version));
  i.settings = v.settings;
  i.code_sha256 = engine::hex_to_base64(v.code_sha256_hex);
  i.code_size = v.code_size;
  i.revision_id = v.revision_id;
  i.last_modified = v.last_modified;
  i.state = v.state;
  i.state_reason = v.state_reason;
  i.state_reason_code = v.state_reason_code;
  i.last_update_status = v.last_update_status;
  i.snap_start_optimized = !v.snapshot.empty();
  for (const auto& l : v.layers) i.layers.push_back({l.arn, l.code_size});
  return i;
}

AliasInfo Engine::Impl::alias_info(const FunctionRecord& r, const AliasRecord& a) const {
  return AliasInfo{a.name, engine::function_arn(options.region, options.account_id, r.name, a.name),
                   a.function_version, a.description, a.revision_id, a.routing};
}

void Engine::Impl::persist(const FunctionRecord& r) {
  try {
    store.save(r);
  } catch (const std::exception& e) {
    fail(ErrorCode::kInternal, std::string("could not write the function record: ") + e.what());
  }
  changed.notify_all();
}

FunctionInfo Engine::Impl::commit_latest_update(FunctionRecord& r, FunctionRecord next) {
  next.latest.revision_id = hooks::new_uuid_v4();
  next.latest.last_modified = now_iso8601();
  next.latest.last_update_status = LastUpdateStatus::kInProgress;
  persist(next);
  r = std::move(next);
  enqueue(r.name, std::string(engine::kLatest));  // the new image of $LATEST
  return info_of(r, r.latest);
}

void Engine::Impl::references(std::set<std::string>& code_refs, std::set<std::string>& images,
                              std::set<std::string>& snapshots) const {
  auto add = [&](const VersionRecord& v) {
    code_refs.insert(v.code_sha256_hex);
    for (const auto& l : v.layers) code_refs.insert(l.code_sha256_hex);
    if (!v.image.empty()) images.insert(v.image);
    if (!v.snapshot.empty()) snapshots.insert(v.snapshot);
  };
  for (const auto& [n, r] : records) {
    add(r.latest);
    for (const auto& [k, v] : r.versions) add(v);
  }
  for (const auto& [n, l] : layers)
    for (const auto& [k, v] : l.versions) code_refs.insert(v.code_sha256_hex);
}

void Engine::Impl::collect_garbage() {
  std::set<std::string> code_refs, images, snapshots;
  references(code_refs, images, snapshots);
  code.remove_unreferenced(code_refs);
  auto sweep = [](const fs::path& dir, const std::set<std::string>& keep) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (keep.count(e.path().filename().string())) continue;
      std::error_code ignored;
      fs::remove_all(e.path(), ignored);
    }
  };
  sweep(builder.paths().images, images);
  sweep(builder.paths().snapshots, snapshots);
  sweep(builder.paths().work, {});
}

void Engine::Impl::release(const std::vector<VersionRecord>& gone) {
  std::set<std::string> code_refs, images, snapshots;
  references(code_refs, images, snapshots);
  bool snapshot_gone = false;
  for (const auto& v : gone) {
    std::error_code ec;
    if (!code_refs.count(v.code_sha256_hex)) code.remove_unless_pinned(v.code_sha256_hex);
    if (!v.image.empty() && !images.count(v.image)) fs::remove_all(builder.image_dir(v.image), ec);
    if (!v.snapshot.empty() && !snapshots.count(v.snapshot)) {
      shared_images.forget(builder.snapshot_dir(v.snapshot).string());
      fs::remove_all(builder.snapshot_dir(v.snapshot), ec);
      snapshot_gone = true;
    }
  }
  if (!snapshot_gone) return;
  if (jobs_running == 0)
    collect_packs();
  else
    packs_gc_pending = true;  // the running job may be writing a pack no manifest names yet
}

std::set<std::string> Engine::Impl::packs_in_use(const fs::path& except) const {
  std::set<std::string> referenced;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(builder.paths().snapshots, ec)) {
    if (e.path() == except) continue;
    try {
      for (const auto& p : snapshot::read_manifest(e.path()).packs) referenced.insert(p.name);
    } catch (const std::exception& ex) {
      // A snapshot whose manifest cannot be read keeps nothing alive; say which.
      spdlog::warn("chunk store: {} is unreadable ({}); its packs may be collected", e.path().string(), ex.what());
    }
  }
  return referenced;
}

void Engine::Impl::collect_packs() {
  std::set<std::string> referenced = packs_in_use();
  try {
    auto got = snapshot::remove_unreferenced_packs(builder.paths().chunks, referenced);
    if (got.packs_removed)
      spdlog::info("chunk store: removed {} pack(s) no snapshot uses ({:.1f} MiB)", got.packs_removed,
                   double(got.bytes_removed) / (1 << 20));
  } catch (const std::exception& e) {
    spdlog::warn("chunk store: collecting unused packs failed: {}", e.what());
  }
  packs_gc_pending = false;
  ++chunk_store_generation;
}

FunctionInfo Engine::create_function(const std::string& name, const FunctionSettings& settings,
                                     const FunctionCode& code) {
  engine::check_function_name(name);
  auto s = normalized(name, settings);
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->records.count(name))
      fail(ErrorCode::kConflict, "Function already exist: " + name);
  }
  auto stored = impl_->code.put(code);  // outside the lock: zipping a tree takes a while
  std::lock_guard lock(impl_->mu);
  if (impl_->records.count(name)) fail(ErrorCode::kConflict, "Function already exist: " + name);
  auto layers = impl_->resolve_layers(s.layers, stored.unzipped_size);
  FunctionRecord r;
  r.name = name;
  r.latest.version = std::string(engine::kLatest);
  r.latest.settings = s;
  r.latest.code_sha256_hex = stored.sha256_hex;
  r.latest.code_size = stored.size;
  r.latest.layers = std::move(layers);
  r.latest.revision_id = hooks::new_uuid_v4();
  r.latest.last_modified = now_iso8601();
  r.latest.state = FunctionState::kPending;
  r.latest.state_reason = "The function is being created.";
  r.latest.state_reason_code = "Creating";
  r.latest.last_update_status = LastUpdateStatus::kInProgress;
  impl_->persist(r);
  auto& placed = impl_->records[name] = std::move(r);
  impl_->enqueue(name, std::string(engine::kLatest));
  return impl_->info_of(placed, placed.latest);
}

FunctionInfo Engine::get_function(const std::string& function, const std::string& qualifier) const {
  auto ref = engine::parse_function_ref(function, qualifier);
  std::lock_guard lock(impl_->mu);
  const auto& r = impl_->record_of(ref.name);
  return impl_->info_of(r, impl_->resolve(r, ref));
}

std::vector<FunctionInfo> Engine::list_functions() const {
  std::lock_guard lock(impl_->mu);
  std::vector<FunctionInfo> out;
  for (const auto& [n, r] : impl_->records) out.push_back(impl_->info_of(r, r.latest));
  return out;
}

std::vector<FunctionInfo> Engine::list_versions(const std::string& function) const {
  auto ref = engine::parse_function_ref(function);
  std::lock_guard lock(impl_->mu);
  const auto& r = impl_->record_of(ref.name);
  std::vector<FunctionInfo> out{impl_->info_of(r, r.latest)};
  for (const auto& [k, v] : r.versions) out.push_back(impl_->info_of(r, v));
  return out;
}

FunctionInfo Engine::update_function_code(const std::string& function, const FunctionCode& code,
                                          const std::string& revision_id) {
  auto ref = engine::parse_function_ref(function);
  {
    std::lock_guard lock(impl_->mu);
    impl_->record_of(ref.name);
  }
  auto stored = impl_->code.put(code);
  std::lock_guard lock(impl_->mu);
  auto& r = impl_->record_of(ref.name);
  check_not_updating(r);
  check_revision(revision_id, r.latest.revision_id, r.name);
  Impl::check_unzipped_total(stored.unzipped_size, r.latest.layers);
  FunctionRecord next = r;
  next.latest.code_sha256_hex = stored.sha256_hex;
  next.latest.code_size = stored.size;
  return impl_->commit_latest_update(r, std::move(next));
}

FunctionInfo Engine::update_function_configuration(const std::string& function, const FunctionSettingsUpdate& u) {
  auto ref = engine::parse_function_ref(function);
  std::lock_guard lock(impl_->mu);
  auto& r = impl_->record_of(ref.name);
  check_not_updating(r);
  check_revision(u.revision_id.value_or(""), r.latest.revision_id, r.name);
  FunctionSettings s = r.latest.settings;
  if (u.runtime) s.runtime = *u.runtime;
  if (u.handler) s.handler = *u.handler;
  if (u.description) s.description = *u.description;
  if (u.role) s.role = *u.role;
  if (u.memory_mb) s.memory_mb = *u.memory_mb;
  if (u.timeout_s) s.timeout_s = *u.timeout_s;
  if (u.environment) s.environment = *u.environment;
  if (u.snap_start) s.snap_start = *u.snap_start;
  if (u.dead_letter_target) s.dead_letter_target = *u.dead_letter_target;
  if (u.layers) s.layers = *u.layers;
  if (u.network_allow) s.network_allow = *u.network_allow;
  FunctionRecord next = r;
  next.latest.settings = normalized(r.name, s);
  // Unchanged Layers keep what they resolved to, also a version deleted since.
  if (s.layers != r.latest.settings.layers)
    next.latest.layers = impl_->resolve_layers(s.layers, impl_->code.unzipped_size(r.latest.code_sha256_hex));
  return impl_->commit_latest_update(r, std::move(next));
}

FunctionInfo Engine::publish_version(const std::string& function, const std::string& description,
                                     const std::string& code_sha256, const std::string& revision_id) {
  auto ref = engine::parse_function_ref(function);
  std::lock_guard lock(impl_->mu);
  auto& r = impl_->record_of(ref.name);
  check_not_updating(r);
  if (r.latest.state != FunctionState::kActive)
    fail(ErrorCode::kConflict, "The operation cannot be performed at this time. The function is " +
                                   std::string(to_string(r.latest.state)) + ": " + r.latest.state_reason);
  check_revision(revision_id, r.latest.revision_id, r.name);
  if (!code_sha256.empty() && code_sha256 != engine::hex_to_base64(r.latest.code_sha256_hex))
    fail(ErrorCode::kInvalidParameter, "CodeSha256 " + code_sha256 + " does not match the code of $LATEST (" +
                                           engine::hex_to_base64(r.latest.code_sha256_hex) + ")");
  if (!r.versions.empty() && r.versions.rbegin()->second.same_code_and_settings(r.latest))
    return impl_->info_of(r, r.versions.rbegin()->second);
  FunctionRecord next = r;
  unsigned n = ++next.last_version;
  VersionRecord v = r.latest;
  v.version = std::to_string(n);
  if (!description.empty()) v.settings.description = description;
  v.revision_id = hooks::new_uuid_v4();
  v.last_modified = now_iso8601();
  v.snapshot.clear();
  bool snap_start = v.settings.snap_start == SnapStartApplyOn::kPublishedVersions;
  v.state = snap_start ? FunctionState::kPending : FunctionState::kActive;
  v.state_reason = snap_start ? "The version is being optimized (SnapStart: INIT and snapshot)." : "";
  v.state_reason_code = snap_start ? "Creating" : "";
  v.last_update_status = snap_start ? LastUpdateStatus::kInProgress : LastUpdateStatus::kSuccessful;
  next.versions.emplace(n, v);
  impl_->persist(next);
  r = std::move(next);
  if (snap_start) impl_->enqueue(r.name, v.version);
  return impl_->info_of(r, r.versions.at(n));
}

void Engine::delete_function(const std::string& function, const std::string& qualifier) {
  auto ref = engine::parse_function_ref(function, qualifier);
  std::unique_lock lock(impl_->mu);
  auto& r = impl_->record_of(ref.name);
  if (ref.kind == QualifierKind::kLatest)
    fail(ErrorCode::kInvalidParameter, "$LATEST version cannot be deleted without deleting the function.");
  if (ref.kind == QualifierKind::kAlias)
    fail(ErrorCode::kInvalidParameter, "an alias is deleted with DeleteAlias, not DeleteFunction");
  if (ref.kind == QualifierKind::kVersion) {
    unsigned n = unsigned(std::stoul(ref.qualifier));
    if (!r.versions.count(n)) fail(ErrorCode::kNotFound, "Function not found: " + r.name + ":" + ref.qualifier);
    for (const auto& [an, a] : r.aliases)
      if (a.function_version == ref.qualifier || (a.routing && a.routing->version == ref.qualifier))
        fail(ErrorCode::kConflict, "Unable to delete version " + ref.qualifier + " because the alias " + an +
                                       " points to it");
    FunctionRecord next = r;
    std::vector<VersionRecord> gone{next.versions.at(n)};
    next.versions.erase(n);
    next.provisioned.erase(ref.qualifier);  // its provisioned concurrency and event config go with it
    next.event_invoke.erase(ref.qualifier);
    impl_->persist(next);
    r = std::move(next);
    impl_->limits.set_provisioned(r.name, impl_->provisioned_total(r), false);
    impl_->provisioned.remove(r.name, ref.qualifier);
    impl_->pool.retire(ref.name + "/" + ref.qualifier + "/");
    impl_->retire_provisioned(r.name, ref.qualifier);
    impl_->release(gone);
  } else {
    std::vector<VersionRecord> gone{r.latest};
    for (const auto& [k, v] : r.versions) gone.push_back(v);
    try {
      impl_->store.remove(ref.name);
    } catch (const std::exception& e) {
      fail(ErrorCode::kInternal, std::string("could not delete the function record: ") + e.what());
    }
    impl_->records.erase(ref.name);
    impl_->limits.forget(ref.name);
    impl_->metrics.forget(ref.name);
    impl_->provisioned.remove_function(ref.name);
    impl_->changed.notify_all();
    impl_->pool.retire(ref.name + "/");
    impl_->retire_provisioned(ref.name);
    impl_->release(gone);
  }
}

AliasInfo Engine::create_alias(const std::string& function, const std::string& alias, const AliasSettings& s) {
  auto ref = engine::parse_function_ref(function);
  engine::check_alias_name(alias);
  std::lock_guard lock(impl_->mu);
  auto& r = impl_->record_of(ref.name);
  if (r.aliases.count(alias))
    fail(ErrorCode::kConflict, "Alias already exists: " +
                                   engine::function_arn(impl_->options.region, impl_->options.account_id, r.name, alias));
  check_alias_settings(r, s);
  FunctionRecord next = r;
  AliasRecord a{alias, s.function_version, s.description, hooks::new_uuid_v4(), s.routing};
  next.aliases.emplace(alias, a);
  impl_->persist(next);
  r = std::move(next);
  return impl_->alias_info(r, a);
}

AliasInfo Engine::update_alias(const std::string& function, const std::string& alias, const AliasSettings& s,
                               const std::string& revision_id) {
  auto ref = engine::parse_function_ref(function);
  std::lock_guard lock(impl_->mu);
  auto& r = impl_->record_of(ref.name);
  auto it = r.aliases.find(alias);
  if (it == r.aliases.end())
    fail(ErrorCode::kNotFound, "Alias not found: " +
                                   engine::function_arn(impl_->options.region, impl_->options.account_id, r.name, alias));
  check_revision(revision_id, it->second.revision_id, r.name + ":" + alias);
  check_alias_settings(r, s);
  FunctionRecord next = r;
  AliasRecord a{alias, s.function_version, s.description, hooks::new_uuid_v4(), s.routing};
  next.aliases[alias] = a;
  impl_->persist(next);
  r = std::move(next);
  impl_->alias_invocations.erase(r.name + ":" + alias);  // the split starts over with the new weights
  impl_->refresh_provisioned(r);  // a provisioned alias moved to another version starts a new generation
  return impl_->alias_info(r, a);
}

AliasInfo Engine::get_alias(const std::string& function, const std::string& alias) const {
  auto ref = engine::parse_function_ref(function);
  std::lock_guard lock(impl_->mu);
  const auto& r = impl_->record_of(ref.name);
  auto it = r.aliases.find(alias);
  if (it == r.aliases.end())
    fail(ErrorCode::kNotFound, "Alias not found: " +
                                   engine::function_arn(impl_->options.region, impl_->options.account_id, r.name, alias));
  return impl_->alias_info(r, it->second);
}

std::vector<AliasInfo> Engine::list_aliases(const std::string& function) const {
  auto ref = engine::parse_function_ref(function);
  std::lock_guard lock(impl_->mu);
  const auto& r = impl_->record_of(ref.name);
  std::vector<AliasInfo> out;
  for (const auto& [n, a] : r.aliases) out.push_back(impl_->alias_info(r, a));
  return out;
}

void Engine::delete_alias(const std::string& function, const std::string& alias) {
  auto ref = engine::parse_function_ref(function);
  std::lock_guard lock(impl_->mu);
  auto& r = impl_->record_of(ref.name);
  if (!r.aliases.count(alias)) return;  // Lambda: deleting a missing alias succeeds
  FunctionRecord next = r;
  next.aliases.erase(alias);
  next.provisioned.erase(alias);  // its provisioned concurrency and event config go with it
  next.event_invoke.erase(alias);
  impl_->persist(next);
  r = std::move(next);
  impl_->alias_invocations.erase(r.name + ":" + alias);
  impl_->limits.set_provisioned(r.name, impl_->provisioned_total(r), false);
  impl_->provisioned.remove(r.name, alias);
  impl_->retire_provisioned(r.name, alias);
}

}  // namespace thaw
