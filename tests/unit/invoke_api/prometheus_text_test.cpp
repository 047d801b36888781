// The metrics as Prometheus text: families with HELP and TYPE, labels escaped, histograms
// cumulative up to +Inf with _sum and _count.
#include <gtest/gtest.h>

#include <string>

#include "base/error.h"
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
  m.provisioned.push_back({"f", "live", 4, 4, 1, 9, 2});
  EngineStats s;
  s.sandboxes = 3;
  s.sandboxes_busy = 1;
  s.sandboxes_idle = 1;
  s.concurrent_executions = 1;
  std::string t = prometheus_text(m, s, {.received = 7, .dropped = 2, .queued = 1, .oldest_age_ms = 1500});
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
  EXPECT_TRUE(has_line(t, "lambda_async_events_queued 1")) << t;
  EXPECT_TRUE(has_line(t, "lambda_async_event_age_milliseconds 1500")) << t;
  EXPECT_TRUE(has_line(t, "thaw_sandboxes{state=\"starting\"} 1")) << t;
  const std::string p = "function_name=\"f\",resource=\"f:live\"";
  EXPECT_TRUE(has_line(t, "lambda_provisioned_concurrent_executions{" + p + "} 1")) << t;
  EXPECT_TRUE(has_line(t, "lambda_provisioned_concurrency_utilization{" + p + "} 0.25")) << t;
  EXPECT_TRUE(has_line(t, "lambda_provisioned_concurrency_invocations_total{" + p + "} 9")) << t;
  EXPECT_TRUE(has_line(t, "lambda_provisioned_concurrency_spillover_invocations_total{" + p + "} 2")) << t;
  EXPECT_TRUE(t.ends_with("\n"));
}

TEST(PrometheusText, LabelValuesAreEscaped) {
  EXPECT_EQ(prometheus_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

}  // namespace
}  // namespace thaw::api

namespace thaw::api {
namespace {

TEST(PrometheusText, WhatIsWrittenReadsBack) {
  EngineMetrics m;
  VersionMetrics v;
  v.function = "we\"ird\\name";
  v.version = "$LATEST";
  v.invocations = 9;
  v.duration_ms = {{10}, {4, 5}, 9, 120};
  m.versions.push_back(v);
  auto samples = parse_prometheus_text(prometheus_text(m, {}, {}));
  bool seen_invocations = false, seen_inf = false;
  for (const auto& s : samples) {
    if (s.name == "lambda_invocations_total") {
      seen_invocations = true;
      EXPECT_EQ(s.labels.at("function_name"), "we\"ird\\name");
      EXPECT_EQ(s.labels.at("executed_version"), "$LATEST");
      EXPECT_EQ(s.value, 9);
    }
    if (s.name == "lambda_duration_milliseconds_bucket" && s.labels.at("le") == "+Inf") {
      seen_inf = true;
      EXPECT_EQ(s.value, 9);
    }
  }
  EXPECT_TRUE(seen_invocations);
  EXPECT_TRUE(seen_inf);
}

TEST(PrometheusText, ALineThatIsNoSampleIsNamed) {
  EXPECT_EQ(parse_prometheus_text("# HELP x y\n\nx 1\ny{a=\"b\"} 2.5 1700000000\n").size(), 2u);
  for (const char* bad : {"x", "x{a=\"b} 1", "x{a} 1", "x one", "{a=\"b\"} 1"}) {
    try {
      parse_prometheus_text(std::string(bad) + "\n");
      ADD_FAILURE() << "taken: " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("metrics: not a"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace thaw::api
