// The metrics as Prometheus text: families with HELP and TYPE, labels escaped, histograms
// cumulative up to +Inf with _sum and _count.
#include <gtest/gtest.h>

#include <string>

#include "invoke-api/prometheus_text.h"

namespace thaw::api {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

TEST(PrometheusText, CountersGaugesAndCumulativeHistograms) {
  EngineMetrics m;
  VersionMetrics v;
  v.function = "f";
  v.version = "2";
  v.invocations = 3;
  v.errors = 1;
  v.throttles = 4;
  v.duration_ms = {{10, 100}, {2, 1, 0}, 3, 65};
  m.versions.push_back(v);
  m.functions.push_back({"f", 1, 5});
  m.functions.push_back({"g", 0, -1});
  EngineStats s;
  s.sandboxes = 3;
  s.sandboxes_busy = 1;
  s.sandboxes_idle = 1;
  s.concurrent_executions = 1;
  std::string t = prometheus_text(m, s, {.received = 7, .dropped = 2, .in_flight = 1});
  const std::string l = "function_name=\"f\",executed_version=\"2\"";
  EXPECT_TRUE(has_line(t, "# TYPE lambda_invocations_total counter")) << t;
  EXPECT_TRUE(has_line(t, "lambda_invocations_total{" + l + "} 3")) << t;
  EXPECT_TRUE(has_line(t, "lambda_errors_total{" + l + "} 1")) << t;
  EXPECT_TRUE(has_line(t, "lambda_throttles_total{" + l + "} 4")) << t;
  EXPECT_TRUE(has_line(t, "# TYPE lambda_duration_milliseconds histogram")) << t;
  EXPECT_TRUE(has_line(t, "lambda_duration_milliseconds_bucket{" + l + ",le=\"10\"} 2")) << t;
  EXPECT_TRUE(has_line(t, "lambda_duration_milliseconds_bucket{" + l + ",le=\"100\"} 3")) << t;
  EXPECT_TRUE(has_line(t, "lambda_duration_milliseconds_bucket{" + l + ",le=\"+Inf\"} 3")) << t;
  EXPECT_TRUE(has_line(t, "lambda_duration_milliseconds_sum{" + l + "} 65")) << t;
  EXPECT_TRUE(has_line(t, "lambda_duration_milliseconds_count{" + l + "} 3")) << t;
  EXPECT_TRUE(has_line(t, "lambda_concurrent_executions{function_name=\"f\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "lambda_concurrent_executions{function_name=\"g\"} 0")) << t;
  EXPECT_TRUE(has_line(t, "lambda_reserved_concurrent_executions{function_name=\"f\"} 5")) << t;
  EXPECT_EQ(t.find("lambda_reserved_concurrent_executions{function_name=\"g\"}"), std::string::npos) << t;
  EXPECT_TRUE(has_line(t, "lambda_async_events_received_total 7")) << t;
  EXPECT_TRUE(has_line(t, "lambda_async_events_dropped_total 2")) << t;
  EXPECT_TRUE(has_line(t, "thaw_sandboxes{state=\"starting\"} 1")) << t;
  EXPECT_TRUE(t.ends_with("\n"));
}

TEST(PrometheusText, LabelValuesAreEscaped) {
  EXPECT_EQ(prometheus_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

}  // namespace
}  // namespace thaw::api
