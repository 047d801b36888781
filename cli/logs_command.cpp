// thaw logs NAME [--follow] [--since D] [--json]: a function's log (its output and the
// platform's START/END/REPORT lines, every sandbox's stream merged in time order) from the data
// directory, as `aws logs tail /aws/lambda/NAME` prints it. It reads the files directly and
// takes no lock, so it runs beside the `thaw serve` that writes them; --follow keeps printing
// what is appended until interrupted.
#include <signal.h>
#include <time.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "cli/commands.h"
#include "cli/global_options.h"
#include "engine/function_logs.h"

namespace thaw::cli {
namespace {

struct LogsArgs {
  std::string name, since = "all";
  bool follow = false, json = false;
  double poll_s = 0.5;
};

std::atomic<bool> interrupted{false};

// "10m", "2h", "30s", "1d" back from now, or "all"; in ms since the epoch (0: everything).
int64_t since_ms(const std::string& s) {
  if (s == "all") return 0;
  size_t used = 0;
  double n = 0;
  try {
    n = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = s.substr(used);
  const double per = unit == "s" ? 1e3 : unit == "m" ? 60e3 : unit == "h" ? 3600e3 : unit == "d" ? 86400e3 : -1;
  if (used == 0 || per < 0 || n < 0) throw Error("--since " + s + ": expected a duration such as 30s, 10m, 2h, 1d, or all");
  return engine::now_ms() - int64_t(n * per);
}

std::string iso_time(int64_t ms) {
  time_t secs = time_t(ms / 1000);
  tm t;
  gmtime_r(&secs, &t);
  char buf[32];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", int(((ms % 1000) + 1000) % 1000));
  return buf;
}

void print(const engine::FunctionLogEvent& e, bool json) {
  if (json) {
    // One JSON object a line (as CloudWatch's FilterLogEvents lists its events).
    std::printf("%s\n", nlohmann::json{{"timestamp", e.timestamp_ms}, {"logStreamName", e.stream}, {"message", e.message}}
                            .dump()
                            .c_str());
  } else {
    std::printf("%s %s %s\n", iso_time(e.timestamp_ms).c_str(), e.stream.c_str(), e.message.c_str());
  }
}

int run_logs(const LogsArgs& a) {
  for (char c : a.name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
      throw Error("logs: " + a.name + " is not a function name (letters, digits, - and _)");
  const auto data = std::filesystem::path(resolved_data_dir());
  engine::FunctionLogReader reader(data / "logs", a.name);
  if (!reader.exists() && !a.follow)
    throw Error("no log for function " + a.name + " in " + data.string() +
                " (its log group starts when its first sandbox does)");
  const int64_t since = since_ms(a.since);
  if (a.follow) {
    ::signal(SIGINT, [](int) { interrupted = true; });
    ::signal(SIGTERM, [](int) { interrupted = true; });
  }
  do {
    for (const auto& e : reader.read_new(since)) print(e, a.json);
    std::fflush(stdout);
    if (!a.follow) break;
    std::this_thread::sleep_for(std::chrono::duration<double>(a.poll_s));
  } while (!interrupted);
  return 0;
}

}  // namespace

Command add_logs_command(CLI::App& app) {
  auto a = std::make_shared<LogsArgs>();
  auto* sub = app.add_subcommand(
      "logs", "a function's log (DATA/logs/NAME: a stream per sandbox, as Lambda's log group /aws/lambda/NAME)");
  sub->add_option("name", a->name, "the function's name")->required();
  sub->add_flag("-f,--follow", a->follow, "keep printing new lines until interrupted");
  sub->add_option("--since", a->since, "only lines this recent: 30s, 10m, 2h, 1d, or all")->capture_default_str();
  sub->add_option("--poll", a->poll_s, "with --follow: seconds between looks for new lines")
      ->check(CLI::Range(0.05, 60.0))
      ->capture_default_str();
  sub->add_flag("--json", a->json, "one JSON object a line: timestamp (ms), logStreamName, message");
  Command c{sub, false, [a] { return run_logs(*a); }};
  c.uses_data_dir = true;
  return c;
}

}  // namespace thaw::cli
