#pragma once
// The persisted records of functions: one JSON file per function under DATA/functions/
// (its $LATEST, its published versions, its aliases), replaced atomically on every change
// (base/atomic_file.h), so a crash leaves the previous record or the new one, never a mix.
// Artifacts the records name (code, images, snapshots) are written before the record that
// points at them, and removed only after no record does.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "thaw/async.h"
#include "thaw/function.h"

namespace thaw::engine {

// A layer version a function version takes, resolved when the configuration was set: a layer
// version deleted later keeps working for the functions that took it (as Lambda's).
struct LayerUse {
  std::string arn;
  std::string code_sha256_hex;
  uint64_t code_size = 0, unzipped_size = 0;
};

struct VersionRecord {
  std::string version;  // "$LATEST" or "1", "2", ...
  FunctionSettings settings;  // with defaults resolved
  std::string code_sha256_hex;
  uint64_t code_size = 0;
  std::vector<LayerUse> layers;  // settings.layers, in order
  std::string revision_id, last_modified;
  FunctionState state = FunctionState::kPending;
  std::string state_reason, state_reason_code;
  LastUpdateStatus last_update_status = LastUpdateStatus::kInProgress;
  std::string image;     // directory name under DATA/images once built
  std::string snapshot;  // directory name under DATA/snapshots once taken (SnapStart versions)

  bool same_code_and_settings(const VersionRecord& o) const;
};

struct AliasRecord {
  std::string name, function_version, description, revision_id;
  std::optional<AliasRouting> routing;
};

// PutProvisionedConcurrencyConfig on one qualifier (a version number or an alias).
struct ProvisionedRecord {
  unsigned requested = 0;
  std::string last_modified;
};

struct FunctionRecord {
  std::string name;
  VersionRecord latest;
  std::map<unsigned, VersionRecord> versions;  // published, by number
  unsigned last_version = 0;                   // numbers are never reused, even after deletes
  std::map<std::string, AliasRecord> aliases;
  std::optional<unsigned> reserved_concurrency;  // PutFunctionConcurrency
  std::map<std::string, ProvisionedRecord> provisioned;  // by qualifier
  std::map<std::string, EventInvokeConfig> event_invoke;  // by qualifier ("$LATEST" unqualified)

  // nullptr when the record has no such version ("$LATEST" or a number).
  const VersionRecord* find_version(const std::string& version) const;
  VersionRecord* find_version(const std::string& version);
};

class FunctionStore {
 public:
  // Opens (creating) DATA/functions and clears temp files an interrupted write left.
  explicit FunctionStore(std::filesystem::path dir);

  // Every record, by name. A record that cannot be read is skipped with an error in the log
  // (and left on disk for a person to look at), so one bad file does not take the others down.
  std::map<std::string, FunctionRecord> load_all() const;
  std::optional<FunctionRecord> load(const std::string& name) const;
  void save(const FunctionRecord& record);
  void remove(const std::string& name);

 private:
  std::filesystem::path file_of(const std::string& name) const;
  std::filesystem::path dir_;
};

std::string to_json_text(const FunctionRecord& r);
FunctionRecord function_record_from_json_text(const std::string& text);  // throws thaw::Error

}  // namespace thaw::engine
