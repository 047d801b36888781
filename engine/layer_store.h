#pragma once
// The persisted records of layers: one JSON file per layer under DATA/layers/ (its versions and
// the last number given out), replaced atomically on every change. A layer's content is a .zip
// in the code store (code_store.h), shared with functions' code of the same bytes. A record
// stays when its last version is deleted, so version numbers are never given out twice.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "thaw/layer.h"

namespace thaw::engine {

struct LayerVersionRecord {
  unsigned version = 0;
  LayerSettings settings;
  std::string created_date;
  std::string code_sha256_hex;
  uint64_t code_size = 0;      // bytes of the .zip
  uint64_t unzipped_size = 0;  // bytes of its files: counts against a function's 250 MB
};

struct LayerRecord {
  std::string name;
  unsigned last_version = 0;
  std::map<unsigned, LayerVersionRecord> versions;
};

class LayerStore {
 public:
  // Opens (creating) DATA/layers and clears temp files an interrupted write left.
  explicit LayerStore(std::filesystem::path dir);

  // Every record, by name; one that cannot be read is skipped with an error in the log.
  std::map<std::string, LayerRecord> load_all() const;
  void save(const LayerRecord& record);

 private:
  std::filesystem::path dir_;
};

std::string to_json_text(const LayerRecord& r);
LayerRecord layer_record_from_json_text(const std::string& text);  // throws thaw::Error

}  // namespace thaw::engine
