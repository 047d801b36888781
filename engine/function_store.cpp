#include "engine/function_store.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/error.h"

namespace thaw::engine {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kRecordFormat = 1;

FunctionState parse_state(const std::string& s) {
  if (s == "Pending") return FunctionState::kPending;
  if (s == "Active") return FunctionState::kActive;
  if (s == "Inactive") return FunctionState::kInactive;
  if (s == "Failed") return FunctionState::kFailed;
  throw Error("function record: unknown state '" + s + "'");
}

LastUpdateStatus parse_update_status(const std::string& s) {
  if (s == "Successful") return LastUpdateStatus::kSuccessful;
  if (s == "Failed") return LastUpdateStatus::kFailed;
  if (s == "InProgress") return LastUpdateStatus::kInProgress;
  throw Error("function record: unknown last update status '" + s + "'");
}

SnapStartApplyOn parse_apply_on(const std::string& s) {
  if (s == "None") return SnapStartApplyOn::kNone;
  if (s == "PublishedVersions") return SnapStartApplyOn::kPublishedVersions;
  throw Error("function record: unknown SnapStart ApplyOn '" + s + "'");
}

json settings_json(const FunctionSettings& s) {
  return {{"runtime", s.runtime},         {"handler", s.handler},         {"memory_mb", s.memory_mb},
          {"timeout_s", s.timeout_s},     {"description", s.description}, {"environment", s.environment},
          {"snap_start", to_string(s.snap_start)}, {"role", s.role},
          {"dead_letter_target", s.dead_letter_target}, {"layers", s.layers},
          {"network_allow", s.network_allow}};
}

FunctionSettings settings_from(const json& j) {
  FunctionSettings s;
  s.runtime = j.at("runtime").get<std::string>();
  s.handler = j.at("handler").get<std::string>();
  s.memory_mb = j.at("memory_mb").get<unsigned>();
  s.timeout_s = j.at("timeout_s").get<unsigned>();
  s.description = j.at("description").get<std::string>();
  s.environment = j.at("environment").get<std::map<std::string, std::string>>();
  s.snap_start = parse_apply_on(j.at("snap_start").get<std::string>());
  s.role = j.value("role", std::string());  // records written before roles were kept have none
  s.dead_letter_target = j.value("dead_letter_target", std::string());
  s.layers = j.value("layers", std::vector<std::string>());
  s.network_allow = j.value("network_allow", std::vector<std::string>());
  return s;
}

json layers_json(const std::vector<LayerUse>& layers) {
  json out = json::array();
  for (const auto& l : layers)
    out.push_back({{"arn", l.arn}, {"code_sha256", l.code_sha256_hex}, {"code_size", l.code_size},
                   {"unzipped_size", l.unzipped_size}});
  return out;
}

std::vector<LayerUse> layers_from(const json& j) {
  std::vector<LayerUse> out;
  for (const auto& l : j)
    out.push_back({l.at("arn").get<std::string>(), l.at("code_sha256").get<std::string>(),
                   l.at("code_size").get<uint64_t>(), l.at("unzipped_size").get<uint64_t>()});
  return out;
}

json version_json(const VersionRecord& v) {
  return {{"version", v.version},
          {"settings", settings_json(v.settings)},
          {"code_sha256", v.code_sha256_hex},
          {"code_size", v.code_size},
          {"revision_id", v.revision_id},
          {"last_modified", v.last_modified},
          {"state", to_string(v.state)},
          {"state_reason", v.state_reason},
          {"state_reason_code", v.state_reason_code},
          {"last_update_status", to_string(v.last_update_status)},
          {"image", v.image},
          {"snapshot", v.snapshot},
          {"layers", layers_json(v.layers)}};
}

VersionRecord version_from(const json& j) {
  VersionRecord v;
  v.version = j.at("version").get<std::string>();
  v.settings = settings_from(j.at("settings"));
  v.code_sha256_hex = j.at("code_sha256").get<std::string>();
  v.code_size = j.at("code_size").get<uint64_t>();
  v.revision_id = j.at("revision_id").get<std::string>();
  v.last_modified = j.at("last_modified").get<std::string>();
  v.state = parse_state(j.at("state").get<std::string>());
  v.state_reason = j.at("state_reason").get<std::string>();
  v.state_reason_code = j.at("state_reason_code").get<std::string>();
  v.last_update_status = parse_update_status(j.at("last_update_status").get<std::string>());
  v.image = j.at("image").get<std::string>();
  v.snapshot = j.at("snapshot").get<std::string>();
  if (j.contains("layers")) v.layers = layers_from(j["layers"]);  // records from before layers have none
  if (v.layers.size() != v.settings.layers.size()) throw Error("function record: its layers do not match its settings");
  return v;
}

json alias_json(const AliasRecord& a) {
  json j = {{"name", a.name},
            {"function_version", a.function_version},
            {"description", a.description},
            {"revision_id", a.revision_id}};
  if (a.routing) j["routing"] = {{"version", a.routing->version}, {"weight", a.routing->weight}};
  return j;
}

AliasRecord alias_from(const json& j) {
  AliasRecord a;
  a.name = j.at("name").get<std::string>();
  a.function_version = j.at("function_version").get<std::string>();
  a.description = j.at("description").get<std::string>();
  a.revision_id = j.at("revision_id").get<std::string>();
  if (j.contains("routing"))
    a.routing = AliasRouting{j["routing"].at("version").get<std::string>(), j["routing"].at("weight").get<double>()};
  return a;
}

}  // namespace

bool VersionRecord::same_code_and_settings(const VersionRecord& o) const {
  auto a = settings_json(settings), b = settings_json(o.settings);
  a.erase("description");  // a version's own description is not its configuration
  b.erase("description");
  return code_sha256_hex == o.code_sha256_hex && a == b;
}

const VersionRecord* FunctionRecord::find_version(const std::string& version) const {
  if (version == "$LATEST") return &latest;
  for (const auto& [n, v] : versions)
    if (v.version == version) return &v;
  return nullptr;
}

VersionRecord* FunctionRecord::find_version(const std::string& version) {
  return const_cast<VersionRecord*>(std::as_const(*this).find_version(version));
}

std::string to_json_text(const FunctionRecord& r) {
  json versions = json::array();
  for (const auto& [n, v] : r.versions) versions.push_back(version_json(v));
  json aliases = json::array();
  for (const auto& [n, a] : r.aliases) aliases.push_back(alias_json(a));
  json j = {{"format", kRecordFormat}, {"name", r.name},         {"latest", version_json(r.latest)},
            {"versions", versions},    {"last_version", r.last_version}, {"aliases", aliases}};
  if (r.reserved_concurrency) j["reserved_concurrency"] = *r.reserved_concurrency;
  if (!r.provisioned.empty()) {
    json p = json::object();
    for (const auto& [q, c] : r.provisioned) p[q] = {{"requested", c.requested}, {"last_modified", c.last_modified}};
    j["provisioned_concurrency"] = p;
  }
  if (!r.event_invoke.empty()) {
    json e = json::object();
    for (const auto& [q, c] : r.event_invoke)
      e[q] = {{"maximum_retry_attempts", c.maximum_retry_attempts}, {"maximum_event_age_s", c.maximum_event_age_s},
              {"on_success", c.on_success}, {"on_failure", c.on_failure}, {"last_modified", c.last_modified}};
    j["event_invoke_config"] = e;
  }
  return j.dump(2) + "\n";
}

FunctionRecord function_record_from_json_text(const std::string& text) {
  try {
    json j = json::parse(text);
    if (j.at("format").get<int>() != kRecordFormat)
      throw Error("function record: format " + j.at("format").dump() + " is not " + std::to_string(kRecordFormat));
    FunctionRecord r;
    r.name = j.at("name").get<std::string>();
    r.latest = version_from(j.at("latest"));
    for (const auto& v : j.at("versions")) {
      auto rec = version_from(v);
      r.versions.emplace(unsigned(std::stoul(rec.version)), std::move(rec));
    }
    r.last_version = j.at("last_version").get<unsigned>();
    for (const auto& a : j.at("aliases")) {
      auto rec = alias_from(a);
      r.aliases.emplace(rec.name, std::move(rec));
    }
    if (j.contains("reserved_concurrency")) r.reserved_concurrency = j["reserved_concurrency"].get<unsigned>();
    if (j.contains("provisioned_concurrency"))
      for (const auto& [q, c] : j["provisioned_concurrency"].items())
        r.provisioned[q] = {c.at("requested").get<unsigned>(), c.at("last_modified").get<std::string>()};
    if (j.contains("event_invoke_config"))
      for (const auto& [q, c] : j["event_invoke_config"].items())
        r.event_invoke[q] = {r.name,
                             q,
                             c.at("maximum_retry_attempts").get<unsigned>(),
                             c.at("maximum_event_age_s").get<unsigned>(),
                             c.at("on_success").get<std::string>(),
                             c.at("on_failure").get<std::string>(),
                             c.at("last_modified").get<std::string>()};
    return r;
  } catch (const json::exception& e) {
    throw Error(std::string("function record: ") + e.what());
  } catch (const std::invalid_argument&) {
    throw Error("function record: a version that is not a number");
  }
}

FunctionStore::FunctionStore(fs::path dir) : dir_(std::move(dir)) {
  fs::create_directories(dir_);
  remove_stale_temp_files(dir_);
}

fs::path FunctionStore::file_of(const std::string& name) const { return dir_ / (name + ".json"); }

std::optional<FunctionRecord> FunctionStore::load(const std::string& name) const {
  std::ifstream in(file_of(name));
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return function_record_from_json_text(ss.str());
}

std::map<std::string, FunctionRecord> FunctionStore::load_all() const {
  std::map<std::string, FunctionRecord> all;
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (e.path().extension() != ".json") continue;
    try {
      auto r = load(e.path().stem().string());
      if (r) all.emplace(r->name, std::move(*r));
    } catch (const std::exception& ex) {
      spdlog::error("{}: {} (the function is skipped; the file is left as it is)", e.path().string(), ex.what());
    }
  }
  return all;
}

void FunctionStore::save(const FunctionRecord& record) { write_file_atomic(file_of(record.name), to_json_text(record)); }

void FunctionStore::remove(const std::string& name) {
  if (::unlink(file_of(name).c_str()) != 0 && errno != ENOENT) throw_errno("unlink", file_of(name).string());
  fsync_directory(dir_);
}

}  // namespace thaw::engine
