// thaw top: a running `thaw serve`'s metrics (GET /metrics) as a table for a person, refreshed
// every --interval seconds on a terminal (once otherwise, or with --once), or as JSON (--json).
// Per function: invocations and their rate since the last refresh, errors, throttles, what runs
// now and the reservation, and duration quantiles read off the histogram (each is the bucket
// bound at or above it, as a histogram can only tell).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "cli/commands.h"
#include "invoke-api/http_client.h"
#include "invoke-api/prometheus_text.h"

namespace thaw::cli {
namespace {

struct TopArgs {
  std::string endpoint = "127.0.0.1:9000";
  double interval_s = 2;
  bool once = false, json = false;
};

struct FunctionRow {
  double invocations = 0, errors = 0, throttles = 0, running = 0, reserved = -1;
  std::map<double, double> duration_buckets;  // le -> cumulative count, summed over versions
  double duration_count = 0, duration_sum = 0;
};

struct Scrape {
  std::map<std::string, FunctionRow> functions;
  std::map<std::string, double> engine;  // name{label} -> value, of the samples without function_name
};

Scrape scrape(const std::string& endpoint) {
  auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) throw Error("--endpoint " + endpoint + ": expected HOST:PORT");
  std::string host = endpoint.substr(0, colon);
  unsigned long port = std::strtoul(endpoint.c_str() + colon + 1, nullptr, 10);
  if (port == 0 || port > 65535) throw Error("--endpoint " + endpoint + ": bad port");
  api::HttpClient client(host, static_cast<uint16_t>(port));
  auto r = client.send({"GET", "/metrics", {}, {}});
  if (r.status != 200) throw Error("GET /metrics at " + endpoint + ": HTTP " + std::to_string(r.status));
  Scrape s;
  for (const auto& m : api::parse_prometheus_text(r.body)) {
    auto fn = m.labels.find("function_name");
    if (fn == m.labels.end()) {
      std::string key = m.name;
      for (const auto& [k, v] : m.labels) key += "{" + v + "}";
      s.engine[key] += m.value;
      continue;
    }
    auto& row = s.functions[fn->second];
    if (m.name == "lambda_invocations_total") row.invocations += m.value;
    else if (m.name == "lambda_errors_total") row.errors += m.value;
    else if (m.name == "lambda_throttles_total") row.throttles += m.value;
    else if (m.name == "lambda_concurrent_executions") row.running = m.value;
    else if (m.name == "lambda_reserved_concurrent_executions") row.reserved = m.value;
    else if (m.name == "lambda_duration_milliseconds_count") row.duration_count += m.value;
    else if (m.name == "lambda_duration_milliseconds_sum") row.duration_sum += m.value;
    else if (m.name == "lambda_duration_milliseconds_bucket" && m.labels.count("le") && m.labels.at("le") != "+Inf")
      row.duration_buckets[std::strtod(m.labels.at("le").c_str(), nullptr)] += m.value;
  }
  return s;
}

// The smallest bucket bound with at least q of the observations; -1 when there are none, or
// when the quantile lies above every bound.
double quantile(const FunctionRow& r, double q) {
  if (r.duration_count <= 0) return -1;
  for (const auto& [le, cumulative] : r.duration_buckets)
    if (cumulative >= q * r.duration_count) return le;
  return -1;
}

std::string ms(double v) {
  if (v < 0) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "<=%g", v);
  return b;
}

double engine_value(const Scrape& s, const std::string& key) {
  auto it = s.engine.find(key);
  return it == s.engine.end() ? 0 : it->second;
}

void print_table(const Scrape& now, const Scrape* before, double seconds) {
  std::printf("sandboxes: %g busy, %g idle, %g starting; %g MB held; running %g; events: %g received, %g dropped, "
              "%g queued\n\n",
              engine_value(now, "thaw_sandboxes{busy}"), engine_value(now, "thaw_sandboxes{idle}"),
              engine_value(now, "thaw_sandboxes{starting}"), engine_value(now, "thaw_sandbox_memory_megabytes"),
              engine_value(now, "lambda_account_concurrent_executions"),
              engine_value(now, "lambda_async_events_received_total"),
              engine_value(now, "lambda_async_events_dropped_total"), engine_value(now, "lambda_async_events_queued"));
  std::printf("%-28s %11s %8s %8s %9s %7s %8s %9s %9s %9s\n", "FUNCTION", "INVOCATIONS", "PER S", "ERRORS",
              "THROTTLES", "RUNNING", "RESERVED", "MEAN MS", "P50 MS", "P99 MS");
  for (const auto& [name, r] : now.functions) {
    std::string rate = "-";
    if (before && seconds > 0) {
      auto it = before->functions.find(name);
      double prev = it == before->functions.end() ? 0 : it->second.invocations;
      char b[32];
      std::snprintf(b, sizeof b, "%.1f", (r.invocations - prev) / seconds);
      rate = b;
    }
    char mean[32] = "-";
    if (r.duration_count > 0) std::snprintf(mean, sizeof mean, "%.1f", r.duration_sum / r.duration_count);
    std::printf("%-28s %11.0f %8s %8.0f %9.0f %7.0f %8s %9s %9s %9s\n", name.c_str(), r.invocations, rate.c_str(),
                r.errors, r.throttles, r.running, r.reserved < 0 ? "-" : std::to_string(int64_t(r.reserved)).c_str(),
                mean, ms(quantile(r, 0.5)).c_str(), ms(quantile(r, 0.99)).c_str());
  }
  if (now.functions.empty()) std::printf("(no functions)\n");
}

nlohmann::json or_null(double v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); }

nlohmann::json as_json(const Scrape& s) {
  nlohmann::json fns = nlohmann::json::array();
  for (const auto& [name, r] : s.functions) {
    nlohmann::json f = {{"function_name", name},         {"invocations", r.invocations}, {"errors", r.errors},
                        {"throttles", r.throttles},      {"concurrent_executions", r.running},
                        {"duration_ms_count", r.duration_count}, {"duration_ms_sum", r.duration_sum},
                        {"duration_ms_p50_at_most", or_null(quantile(r, 0.5))},
                        {"duration_ms_p99_at_most", or_null(quantile(r, 0.99))}};
    if (r.reserved >= 0) f["reserved_concurrent_executions"] = r.reserved;
    fns.push_back(std::move(f));
  }
  return {{"functions", fns}, {"engine", s.engine}};
}

int run_top(const TopArgs& a) {
  if (a.json) {
    std::printf("%s\n", as_json(scrape(a.endpoint)).dump(2).c_str());
    return 0;
  }
  const bool live = !a.once && ::isatty(STDOUT_FILENO);
  std::optional<Scrape> before;
  auto last = std::chrono::steady_clock::now();
  for (;;) {
    Scrape now = scrape(a.endpoint);
    auto t = std::chrono::steady_clock::now();
    if (live) std::printf("\x1b[H\x1b[2J");  // home and clear: one screen, redrawn
    std::printf("thaw top: %s\n", a.endpoint.c_str());
    print_table(now, before ? &*before : nullptr, std::chrono::duration<double>(t - last).count());
    std::fflush(stdout);
    if (!live) return 0;
    before = std::move(now);
    last = t;
    std::this_thread::sleep_for(std::chrono::duration<double>(a.interval_s));
  }
}

}  // namespace

Command add_top_command(CLI::App& app) {
  auto a = std::make_shared<TopArgs>();
  auto* sub = app.add_subcommand("top", "a running thaw serve's metrics per function, live (GET /metrics)");
  sub->add_option("--endpoint", a->endpoint, "HOST:PORT of thaw serve")->capture_default_str();
  sub->add_option("--interval", a->interval_s, "seconds between refreshes on a terminal")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  sub->add_flag("--once", a->once, "print once and exit (also when stdout is not a terminal)");
  sub->add_flag("--json", a->json, "print the figures once as JSON");
  return {sub, false, [a] { return run_top(*a); }};
}

}  // namespace thaw::cli
