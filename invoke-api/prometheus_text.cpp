#include "invoke-api/prometheus_text.h"

#include <cstdio>
#include <cstdlib>

#include "base/error.h"
#include <string_view>

namespace thaw::api {
namespace {

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

class Writer {
 public:
  void family(std::string_view name, std::string_view help, std::string_view type) {
    out_ += "# HELP " + std::string(name) + " " + std::string(help) + "\n";
    out_ += "# TYPE " + std::string(name) + " " + std::string(type) + "\n";
  }
  void sample(std::string_view name, const std::string& labels, double value) {
    out_ += std::string(name);
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += " " + number(value) + "\n";
  }
  void histogram(std::string_view name, const std::string& labels, const Distribution& d) {
    const std::string sep = labels.empty() ? "" : ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < d.upper_bounds.size(); ++i) {
      if (i < d.counts.size()) cumulative += d.counts[i];
      sample(std::string(name) + "_bucket", labels + sep + "le=\"" + number(d.upper_bounds[i]) + "\"",
             double(cumulative));
    }
    sample(std::string(name) + "_bucket", labels + sep + "le=\"+Inf\"", double(d.count));
    sample(std::string(name) + "_sum", labels, d.sum);
    sample(std::string(name) + "_count", labels, double(d.count));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string version_labels(const VersionMetrics& v) {
  return "function_name=\"" + prometheus_label_value(v.function) + "\",executed_version=\"" +
         prometheus_label_value(v.version) + "\"";
}

void per_version(Writer& w, const EngineMetrics& m) {
  auto counter = [&](std::string_view name, std::string_view help, uint64_t VersionMetrics::*field) {
    w.family(name, help, "counter");
    for (const auto& v : m.versions) w.sample(name, version_labels(v), double(v.*field));
  };
  counter("lambda_invocations_total", "Invocations that reached a sandbox (Lambda's Invocations).",
          &VersionMetrics::invocations);
  counter("lambda_errors_total", "Invocations that ended in a function error (Lambda's Errors).",
          &VersionMetrics::errors);
  counter("lambda_throttles_total", "Invocations refused for a concurrency limit or the burst rate (Throttles).",
          &VersionMetrics::throttles);
  auto histogram = [&](std::string_view name, std::string_view help, Distribution VersionMetrics::*field) {
    w.family(name, help, "histogram");
    for (const auto& v : m.versions) w.histogram(name, version_labels(v), v.*field);
  };
  histogram("lambda_duration_milliseconds", "The function's run time per invocation (Lambda's Duration).",
            &VersionMetrics::duration_ms);
  histogram("lambda_init_duration_milliseconds", "INIT of cold-started sandboxes (Init Duration).",
            &VersionMetrics::init_duration_ms);
  histogram("lambda_restore_duration_milliseconds", "Restores from a SnapStart snapshot (Restore Duration).",
            &VersionMetrics::restore_duration_ms);
}

void per_function(Writer& w, const EngineMetrics& m, const EngineStats& s) {
  w.family("lambda_concurrent_executions", "Invocations running now (Lambda's ConcurrentExecutions).", "gauge");
  for (const auto& f : m.functions)
    w.sample("lambda_concurrent_executions", "function_name=\"" + prometheus_label_value(f.function) + "\"",
             f.concurrent_executions);
  w.family("lambda_reserved_concurrent_executions", "Reserved concurrency of the functions that have one.", "gauge");
  for (const auto& f : m.functions)
    if (f.reserved >= 0)
      w.sample("lambda_reserved_concurrent_executions",
               "function_name=\"" + prometheus_label_value(f.function) + "\"", double(f.reserved));
  auto provisioned = [&](std::string_view name, std::string_view help, std::string_view type, auto value) {
    w.family(name, help, type);
    for (const auto& p : m.provisioned)
      w.sample(name, "function_name=\"" + prometheus_label_value(p.function) + "\",resource=\"" +
                         prometheus_label_value(p.function + ":" + p.qualifier) + "\"",
               double(value(p)));
  };
  provisioned("lambda_provisioned_concurrent_executions", "Invocations running on provisioned sandboxes now.", "gauge",
              [](const ProvisionedMetrics& p) { return p.in_use; });
  provisioned("lambda_provisioned_concurrency_utilization",
              "Provisioned sandboxes running an invocation, as a fraction of those allocated.", "gauge",
              [](const ProvisionedMetrics& p) { return p.allocated ? double(p.in_use) / p.allocated : 0.0; });
  provisioned("lambda_provisioned_concurrency_invocations_total", "Invocations that ran on a provisioned sandbox.",
              "counter", [](const ProvisionedMetrics& p) { return p.invocations; });
  provisioned("lambda_provisioned_concurrency_spillover_invocations_total",
              "Invocations of a provisioned version or alias that found none idle and ran on demand.", "counter",
              [](const ProvisionedMetrics& p) { return p.spillover_invocations; });
  provisioned("thaw_provisioned_concurrency_allocated", "Provisioned sandboxes initialized (of those requested).",
              "gauge", [](const ProvisionedMetrics& p) { return p.allocated; });
  w.family("lambda_account_concurrent_executions", "Invocations running now, all functions together.", "gauge");
  w.sample("lambda_account_concurrent_executions", "", s.concurrent_executions);
}

void async_events(Writer& w, const AsyncStats& e) {
  auto counter = [&](std::string_view name, std::string_view help, uint64_t value) {
    w.family(name, help, "counter");
    w.sample(name, "", double(value));
  };
  counter("lambda_async_events_received_total", "Event invocations accepted (202), on disk before the answer.",
          e.received);
  counter("lambda_async_events_succeeded_total", "Events whose invocation succeeded.", e.succeeded);
  counter("lambda_async_events_failed_total", "Events out of retries or past their maximum age.", e.failed);
  counter("lambda_async_events_retried_total", "Deliveries that failed and are tried again later.", e.retried);
  counter("lambda_async_destination_deliveries_total", "Outcomes sent to an on-success or on-failure destination.",
          e.to_destination);
  counter("lambda_async_events_dropped_total",
          "Events that failed with no destination, or whose destination failed (AsyncEventsDropped).", e.dropped);
  w.family("lambda_async_events_queued", "Events on disk now: waiting, being delivered or waiting for a retry.",
           "gauge");
  w.sample("lambda_async_events_queued", "", double(e.queued));
  w.family("lambda_async_event_age_milliseconds", "Age of the oldest queued event (AsyncEventAge).", "gauge");
  w.sample("lambda_async_event_age_milliseconds", "", double(e.oldest_age_ms));
}

void engine_wide(Writer& w, const EngineStats& s) {
  w.family("thaw_sandboxes", "Sandboxes by state: busy (running an invocation), idle (frozen, warm), starting.",
           "gauge");
  unsigned settled = s.sandboxes_busy + s.sandboxes_idle;
  w.sample("thaw_sandboxes", "state=\"busy\"", s.sandboxes_busy);
  w.sample("thaw_sandboxes", "state=\"idle\"", s.sandboxes_idle);
  w.sample("thaw_sandboxes", "state=\"starting\"", s.sandboxes > settled ? s.sandboxes - settled : 0);
  w.family("thaw_sandboxes_started_total", "Sandboxes started, by how: cold (boot and INIT) or restored.", "counter");
  w.sample("thaw_sandboxes_started_total", "how=\"cold\"", double(s.sandboxes_started_cold));
  w.sample("thaw_sandboxes_started_total", "how=\"restored\"", double(s.sandboxes_restored));
  w.family("thaw_sandbox_reuses_total", "Invocations that found a warm sandbox.", "counter");
  w.sample("thaw_sandbox_reuses_total", "", double(s.sandboxes_reused));
  w.family("thaw_sandbox_memory_megabytes", "Memory the existing sandboxes hold against the budget.", "gauge");
  w.sample("thaw_sandbox_memory_megabytes", "", double(s.sandbox_memory_mb));
  w.family("thaw_chunk_store_bytes", "Bytes of the snapshots' shared chunk store on disk.", "gauge");
  w.sample("thaw_chunk_store_bytes", "", double(s.chunk_store_bytes));
}

}  // namespace

std::string prometheus_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {

// `rest` starts after '{': reads label="value" pairs up to '}' and leaves `rest` after it.
std::map<std::string, std::string> parse_labels(std::string_view& rest, std::string_view line) {
  std::map<std::string, std::string> labels;
  auto bad = [&] { return Error("metrics: not a sample line: " + std::string(line)); };
  for (;;) {
    if (rest.starts_with("}")) {
      rest.remove_prefix(1);
      return labels;
    }
    auto eq = rest.find("=\"");
    if (eq == std::string_view::npos || eq == 0) throw bad();
    std::string key(rest.substr(0, eq)), value;
    rest.remove_prefix(eq + 2);
    for (;;) {
      if (rest.empty()) throw bad();
      char c = rest.front();
      rest.remove_prefix(1);
      if (c == '"') break;
      if (c == '\\') {
        if (rest.empty()) throw bad();
        char e = rest.front();
        rest.remove_prefix(1);
        value += e == 'n' ? '\n' : e;
      } else {
        value += c;
      }
    }
    labels.emplace(std::move(key), std::move(value));
    if (rest.starts_with(",")) rest.remove_prefix(1);
  }
}

}  // namespace

std::vector<PrometheusSample> parse_prometheus_text(std::string_view text) {
  std::vector<PrometheusSample> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty() || line.starts_with("#")) continue;
    PrometheusSample s;
    auto end = line.find_first_of("{ ");
    if (end == std::string_view::npos || end == 0) throw Error("metrics: not a sample line: " + std::string(line));
    s.name = line.substr(0, end);
    std::string_view rest = line.substr(end);
    if (rest.starts_with("{")) {
      rest.remove_prefix(1);
      s.labels = parse_labels(rest, line);
    }
    if (!rest.starts_with(" ")) throw Error("metrics: not a sample line: " + std::string(line));
    rest.remove_prefix(1);
    std::string value(rest.substr(0, rest.find(' ')));  // a timestamp may follow
    char* parsed_end = nullptr;
    s.value = std::strtod(value.c_str(), &parsed_end);
    if (value.empty() || parsed_end != value.c_str() + value.size())
      throw Error("metrics: not a number in: " + std::string(line));
    out.push_back(std::move(s));
  }
  return out;
}

std::string prometheus_text(const EngineMetrics& metrics, const EngineStats& stats, const AsyncStats& events) {
  Writer w;
  per_version(w, metrics);
  per_function(w, metrics, stats);
  async_events(w, events);
  engine_wide(w, stats);
  return w.take();
}

}  // namespace thaw::api
