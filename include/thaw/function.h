#pragma once
// Functions as the Lambda API describes them: their configuration, their code, the immutable
// versions published from $LATEST, and aliases that name a version (optionally splitting
// traffic with a second one).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "thaw/layer.h"

namespace thaw {

enum class SnapStartApplyOn { kNone, kPublishedVersions };

// What CreateFunction takes (and UpdateFunctionConfiguration changes). Zero or empty fields take
// Lambda's defaults: memory by runtime (python3.11: 256 MB, provided: 128 MB), timeout 3 s.
struct FunctionSettings {
  std::string runtime = "python3.11";  // "python3.11" or "provided"
  std::string handler{};                 // python3.11 default: lambda_function.handler
  unsigned memory_mb = 0;              // 128..10240
  unsigned timeout_s = 0;              // 1..900
  std::string description{};
  std::map<std::string, std::string> environment{};
  SnapStartApplyOn snap_start = SnapStartApplyOn::kNone;
  // The execution role's ARN, kept and reported as Lambda does (thaw assumes no role).
  std::string role{};
  // DeadLetterConfig's TargetArn: a local queue (arn:thaw:queue:... or arn:aws:sqs:...) that an
  // Event invocation's payload goes to when it fails and no on-failure destination is set.
  std::string dead_letter_target{};
  // Layer version ARNs (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION), at most 5, unpacked
  // in this order under /opt; code and layers together at most 250 MB unzipped.
  std::vector<std::string> layers{};
  // Where the function's sandboxes may open connections: each "ADDRESS[/PREFIX][:PORT]"
  // ("10.0.0.5:6379", "10.0.0.0/24", "0.0.0.0/0" for anywhere; no port: every port). Empty:
  // the sandboxes have no network card at all. Anything not listed is refused at once, the
  // engine's own API port and other sandboxes included; nothing reaches a sandbox unasked.
  std::vector<std::string> network_allow{};
};

// A change of configuration: only the fields that are set change.
struct FunctionSettingsUpdate {
  std::optional<std::string> runtime{}, handler{}, description{}, role{}, dead_letter_target{};
  std::optional<unsigned> memory_mb{}, timeout_s{};
  std::optional<std::map<std::string, std::string>> environment{};
  std::optional<SnapStartApplyOn> snap_start{};
  std::optional<std::vector<std::string>> layers{}, network_allow{};
  std::optional<std::string> revision_id{};  // when set, the update is refused unless it matches
};

// A function's code: a directory or a .zip file on this machine, or the bytes of a .zip (as the
// API's ZipFile). Exactly one is set.
struct FunctionCode {
  std::string directory{};
  std::string zip_file{};
  std::string zip_bytes{};
};

enum class FunctionState { kPending, kActive, kInactive, kFailed };
enum class LastUpdateStatus { kSuccessful, kFailed, kInProgress };

// One version of a function ($LATEST or a published number), as GetFunctionConfiguration returns it.
struct FunctionInfo {
  std::string name{}, arn{}, version{};  // arn is qualified for published versions
  FunctionSettings settings{};
  std::string code_sha256{};  // base64 of the sha256 of the code's .zip, as Lambda's CodeSha256
  uint64_t code_size = 0;
  std::string revision_id{};
  std::string last_modified{};  // ISO 8601, e.g. 2026-12-01T10:00:00.000+0000
  FunctionState state = FunctionState::kPending;
  std::string state_reason{}, state_reason_code{};
  LastUpdateStatus last_update_status = LastUpdateStatus::kInProgress;
  bool snap_start_optimized = false;  // SnapStart OptimizationStatus: On
  std::vector<FunctionLayer> layers{};  // settings.layers with their sizes
};

struct AliasRouting {
  std::string version{};  // the additional version
  double weight = 0;    // share of invocations it gets, 0..1
};

struct AliasInfo {
  std::string name{}, arn{}, function_version{}, description{}, revision_id{};
  std::optional<AliasRouting> routing{};
};

struct AliasSettings {
  std::string function_version{};
  std::string description{};
  std::optional<AliasRouting> routing{};
};

std::string_view to_string(FunctionState s);       // "Pending", "Active", "Inactive", "Failed"
std::string_view to_string(LastUpdateStatus s);    // "Successful", "Failed", "InProgress"
std::string_view to_string(SnapStartApplyOn a);    // "None", "PublishedVersions"

}  // namespace thaw
