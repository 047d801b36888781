#include "engine/layer_store.h"

#include <spdlog/spdlog.h>

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

json version_json(const LayerVersionRecord& v) {
  return {{"version", v.version},
          {"description", v.settings.description},
          {"license_info", v.settings.license_info},
          {"compatible_runtimes", v.settings.compatible_runtimes},
          {"compatible_architectures", v.settings.compatible_architectures},
          {"created_date", v.created_date},
          {"code_sha256", v.code_sha256_hex},
          {"code_size", v.code_size},
          {"unzipped_size", v.unzipped_size}};
}

LayerVersionRecord version_from(const json& j) {
  LayerVersionRecord v;
  v.version = j.at("version").get<unsigned>();
  v.settings.description = j.at("description").get<std::string>();
  v.settings.license_info = j.at("license_info").get<std::string>();
  v.settings.compatible_runtimes = j.at("compatible_runtimes").get<std::vector<std::string>>();
  v.settings.compatible_architectures = j.at("compatible_architectures").get<std::vector<std::string>>();
  v.created_date = j.at("created_date").get<std::string>();
  v.code_sha256_hex = j.at("code_sha256").get<std::string>();
  v.code_size = j.at("code_size").get<uint64_t>();
  v.unzipped_size = j.at("unzipped_size").get<uint64_t>();
  return v;
}

}  // namespace

std::string to_json_text(const LayerRecord& r) {
  json versions = json::array();
  for (const auto& [n, v] : r.versions) versions.push_back(version_json(v));
  json j = {{"format", kRecordFormat}, {"name", r.name}, {"last_version", r.last_version}, {"versions", versions}};
  return j.dump(2) + "\n";
}

LayerRecord layer_record_from_json_text(const std::string& text) {
  try {
    json j = json::parse(text);
    if (j.at("format").get<int>() != kRecordFormat)
      throw Error("layer record: format " + j.at("format").dump() + " is not " + std::to_string(kRecordFormat));
    LayerRecord r;
    r.name = j.at("name").get<std::string>();
    r.last_version = j.at("last_version").get<unsigned>();
    for (const auto& v : j.at("versions")) {
      auto rec = version_from(v);
      if (rec.version == 0 || rec.version > r.last_version)
        throw Error("layer record: version " + std::to_string(rec.version) + " is past the last one given out");
      r.versions.emplace(rec.version, std::move(rec));
    }
    return r;
  } catch (const json::exception& e) {
    throw Error(std::string("layer record: ") + e.what());
  }
}

LayerStore::LayerStore(fs::path dir) : dir_(std::move(dir)) {
  fs::create_directories(dir_);
  remove_stale_temp_files(dir_);
}

std::map<std::string, LayerRecord> LayerStore::load_all() const {
  std::map<std::string, LayerRecord> all;
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (e.path().extension() != ".json") continue;
    try {
      std::ifstream in(e.path());
      std::stringstream ss;
      ss << in.rdbuf();
      auto r = layer_record_from_json_text(ss.str());
      all.emplace(r.name, std::move(r));
    } catch (const std::exception& ex) {
      spdlog::error("{}: {} (the layer is skipped; the file is left as it is)", e.path().string(), ex.what());
    }
  }
  return all;
}

void LayerStore::save(const LayerRecord& record) {
  write_file_atomic(dir_ / (record.name + ".json"), to_json_text(record));
}

}  // namespace thaw::engine
