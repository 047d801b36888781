#pragma once
// The engine's metrics in Prometheus' text exposition format (version 0.0.4), as GET /metrics
// serves them: Lambda's CloudWatch metric names in snake case with a lambda_ prefix, labelled by
// function_name and executed_version; thaw's own sandbox and memory figures with a thaw_ prefix.
// Durations are histograms in milliseconds (Lambda reports them in ms).
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "thaw/engine.h"

namespace thaw::api {

std::string prometheus_text(const EngineMetrics& metrics, const EngineStats& stats, const AsyncStats& events);

// One sample line read back: name{labels} value.
struct PrometheusSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
// The samples of a text in that format (comments and blank lines skipped); throws thaw::Error
// naming the line that is not one (what `thaw top` reads from a server).
std::vector<PrometheusSample> parse_prometheus_text(std::string_view text);

// "\\", "\"" and newlines escaped, as label values need.
std::string prometheus_label_value(std::string_view v);

}  // namespace thaw::api
