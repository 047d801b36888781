// thaw::Engine end to end (label kvm): the warm pool, SnapStart on publish with restored
// invocations, versions that are not ready yet, exact alias routing, and what survives a
// restart of the engine. The engine builds every image itself from examples/functions.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <latch>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/vmm/kvm.h"
#include "snapshot/page_store_reader.h"
#include "snapshot/working_set.h"
#include "tests/common/engine_errors.h"
#include "thaw/engine.h"

namespace thaw {
namespace {
namespace fs = std::filesystem;

std::string example(const std::string& name) { return std::string(THAW_SOURCE_DIR) + "/examples/functions/" + name; }

using test::code_of;

// Log lines the engine reports, with a wait for one to appear.
struct LogWatch {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<LogEvent> events;
  void add(const LogEvent& e) {
    std::lock_guard lock(mu);
    events.push_back(e);
    cv.notify_all();
  }
  // A line that never comes fails the test after `patience` (with the lines that did come)
  // instead of hanging it.
  void wait_for_line_starting(const std::string& prefix, std::chrono::seconds patience = std::chrono::seconds(240)) {
    std::unique_lock lock(mu);
    bool seen = cv.wait_for(lock, patience, [&] {
      for (const auto& e : events)
        if (e.line.rfind(prefix, 0) == 0) return true;
      return false;
    });
    if (seen) return;
    std::string all;
    for (const auto& e : events) all += "  " + e.function + ":" + e.version + " " + e.line + "\n";
    FAIL() << "no log line starting with '" << prefix << "' within " << patience.count() << " s; the log:\n" << all;
  }
};

class EngineKvm : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = fs::path(THAW_BINARY_DIR) / ("test-engine-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(data_);
  }
  void TearDown() override { fs::remove_all(data_); }

  EngineOptions options(unsigned builders = 1) {
    EngineOptions o;
    o.data_dir = data_.string();
    o.build_workers = builders;
    // Under software emulation a kernel boot alone takes ~10 s and a Python INIT several more.
    o.init_timeout = std::chrono::seconds(60);
    o.boot_allowance = std::chrono::seconds(240);
    o.on_log = [this](const LogEvent& e) { logs_.add(e); };
    o.cpu_scale = 0;  // a software CPU: Lambda's CPU share would make it a hundred times slower
    // Re-encoding snapshots would share the one emulated CPU with the clones; the test of
    // publishing turns it on, at zstd's cheapest level.
    o.snapshot_zstd_level = 0;
    return o;
  }
  static FunctionSettings python(SnapStartApplyOn snap = SnapStartApplyOn::kNone, unsigned timeout_s = 60) {
    FunctionSettings s;
    s.runtime = "python3.11";
    s.timeout_s = timeout_s;
    s.snap_start = snap;
    return s;
  }
  std::vector<std::string> snapshot_dirs() {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(data_ / "snapshots")) names.push_back(e.path().filename());
    return names;
  }

  fs::path data_;
  LogWatch logs_;
};

TEST_F(EngineKvm, SequentialInvokesShareOneSandboxAndABusyOneIsNeverShared) {
  Engine engine(options());
  engine.create_function("sleepy", python(), {.directory = example("python-sleep")});
  engine.wait_until_ready("sleepy");

  auto first = engine.invoke({.function = "sleepy", .payload = R"({"seconds": 0})"});
  ASSERT_EQ(first.function_error, "") << first.payload;
  EXPECT_EQ(first.report.start, StartKind::kCold);
  EXPECT_GT(first.report.init_duration_ms, 0);
  EXPECT_EQ(first.executed_version, "$LATEST");
  ASSERT_FALSE(first.log_lines.empty());
  EXPECT_EQ(first.log_lines.front(), "START RequestId: " + first.request_id + " Version: $LATEST");
  EXPECT_EQ(first.log_lines.back().rfind("REPORT RequestId: " + first.request_id, 0), 0u);
  EXPECT_NE(first.log_lines.back().find("Init Duration: "), std::string::npos);

  auto second = engine.invoke({.function = "sleepy", .payload = R"({"seconds": 0})"});
  EXPECT_EQ(second.report.start, StartKind::kWarm);
  EXPECT_EQ(second.log_lines.back().find("Init Duration"), std::string::npos);
  EXPECT_EQ(engine.stats().sandboxes_started_cold, 1u);
  EXPECT_EQ(engine.stats().sandboxes_reused, 1u);
  EXPECT_EQ(engine.stats().sandboxes_idle, 1u);

  // A holds the warm sandbox (it has printed, so its handler runs); B, started now, cannot
  // have it and gets a sandbox of its own.
  auto a = std::async(std::launch::async, [&] {
    return engine.invoke({.function = "sleepy", .payload = R"({"seconds": 20})", .request_id = "aaaaaaaa-0000-4000-8000-000000000001"});
  });
  logs_.wait_for_line_starting("sleeping 20.0 s in aaaaaaaa-0000-4000-8000-000000000001");
  EXPECT_EQ(engine.stats().sandboxes_busy, 1u);
  auto b = engine.invoke({.function = "sleepy", .payload = R"({"seconds": 0})"});
  auto ra = a.get();
  EXPECT_EQ(ra.function_error, "") << ra.payload;
  EXPECT_EQ(ra.report.start, StartKind::kWarm);
  EXPECT_EQ(b.function_error, "") << b.payload;
  EXPECT_EQ(b.report.start, StartKind::kCold);
  EXPECT_EQ(engine.stats().sandboxes_started_cold, 2u);
  EXPECT_EQ(engine.stats().sandboxes_idle, 2u);
}

TEST_F(EngineKvm, PublishTakesTheSnapshotAndTheVersionRestoresAcrossEngineRestarts) {
  {
    Engine engine(options());
    engine.create_function("hello", python(SnapStartApplyOn::kPublishedVersions), {.directory = example("python-hello")});
    engine.wait_until_ready("hello");
  }
  {
    // No builders: the published version stays Pending, and invoking it is refused rather
    // than served by a cold start in disguise.
    Engine engine(options(0));
    auto v1 = engine.publish_version("hello");
    EXPECT_EQ(v1.version, "1");
    EXPECT_EQ(v1.state, FunctionState::kPending);
    EXPECT_EQ(code_of([&] { engine.invoke({.function = "hello:1"}); }), ErrorCode::kSnapStartNotReady);
  }
  std::vector<std::string> snapshots;
  auto repacking = options();
  repacking.snapshot_zstd_level = 1;
  {
    Engine engine(repacking);  // picks the unfinished snapshot up
    auto v1 = engine.wait_until_ready("hello", "1");
    EXPECT_TRUE(v1.snap_start_optimized);
    snapshots = snapshot_dirs();
    ASSERT_EQ(snapshots.size(), 1u);
    auto r = engine.invoke({.function = "hello", .qualifier = "1", .payload = R"({"n": 1})"});
    ASSERT_EQ(r.function_error, "") << r.payload;
    EXPECT_EQ(r.executed_version, "1");
    EXPECT_EQ(r.report.start, StartKind::kRestored);
    EXPECT_GT(r.report.restore_duration_ms, 0);
    EXPECT_NE(r.log_lines.back().find("Restore Duration: "), std::string::npos) << r.log_lines.back();
    // The critical path, phase by phase in the order they ran, back to back.
    std::vector<std::string> names;
    double sum = 0;
    for (const auto& p : r.report.restore_phases) {
      names.push_back(p.name);
      EXPECT_GE(p.ms, 0) << p.name;
      sum += p.ms;
    }
    std::vector<std::string> path{"vmm_process", "snapshot_open", "memory_map", "vm_create", "state_restore"};
    if (names.size() > 5 && names[5] == "working_set") {
      path.push_back("working_set");
      if (thaw::vmm::Kvm::open().has_pre_fault_memory()) path.push_back("stage2_prefault");
    }
    for (const char* n : {"resume", "agent_hooks", "runtime_hooks", "first_response"}) path.push_back(n);
    EXPECT_EQ(names, path);
    EXPECT_GE(sum, r.report.restore_duration_ms) << "the phases cover the restore and the first response";
    EXPECT_EQ(r.log_lines.front(), "START RequestId: " + r.request_id + " Version: 1");
    auto body = nlohmann::json::parse(r.payload);
    EXPECT_EQ(body["function_version"], "1");
    EXPECT_EQ(body["invoked_function_arn"], "arn:aws:lambda:us-east-1:000000000000:function:hello:1");
    // $LATEST always starts cold.
    auto latest = engine.invoke({.function = "hello"});
    EXPECT_EQ(latest.report.start, StartKind::kCold);
    EXPECT_GT(engine.stats().chunk_store_bytes, 0u);
    // The restore recorded the working set; a worker then re-encoded the snapshot around it:
    // the working set in lz4, the rest in zstd.
    ASSERT_TRUE(engine.wait_for_background_work());
    auto pages = thaw::snapshot::PageStoreReader::open(data_ / "snapshots" / snapshots[0]);
    EXPECT_NE(pages->manifest().page_index, "pages.idx");
    auto working_set = thaw::snapshot::load_working_set(data_ / "snapshots" / snapshots[0]);
    ASSERT_TRUE(working_set && !working_set->empty());
    EXPECT_NE(pages->chunk_record(working_set->front()).encoding, thaw::snapshot::kEncodingZstd);
    unsigned zstd = 0;
    for (uint64_t c = 0; c < pages->chunk_count(); ++c)
      zstd += pages->chunk_record(c).encoding == thaw::snapshot::kEncodingZstd;
    EXPECT_GT(zstd, working_set->size());
  }
  Engine engine(repacking);
  // The re-encoded snapshot restores, its working set prefetched from the front of its pack.
  auto r = engine.invoke({.function = "arn:aws:lambda:us-east-1:000000000000:function:hello:1"});
  ASSERT_EQ(r.function_error, "") << r.payload;
  EXPECT_EQ(r.report.start, StartKind::kRestored);
  EXPECT_EQ(nlohmann::json::parse(r.payload)["function_version"], "1");
  EXPECT_TRUE(engine.wait_for_background_work());
  EXPECT_EQ(snapshot_dirs(), snapshots) << "the restarted engine took a new snapshot";
}

TEST_F(EngineKvm, AnAliasSplitsInvocationsExactlyByWeight) {
  Engine engine(options());
  engine.create_function("hello", python(), {.directory = example("python-hello")});
  engine.wait_until_ready("hello");
  engine.publish_version("hello");
  FunctionSettingsUpdate u;
  u.environment = std::map<std::string, std::string>{{"FLAVOUR", "two"}};
  engine.update_function_configuration("hello", u);
  engine.wait_until_ready("hello");
  EXPECT_EQ(engine.publish_version("hello").version, "2");
  engine.create_alias("hello", "canary", {.function_version = "1", .routing = AliasRouting{"2", 0.3}});
  std::map<std::string, int> by_version;
  for (int i = 0; i < 100; ++i) {
    auto r = engine.invoke({.function = "hello:canary"});
    ASSERT_EQ(r.function_error, "") << r.payload;
    ++by_version[r.executed_version];
  }
  EXPECT_EQ(by_version["1"], 70);
  EXPECT_EQ(by_version["2"], 30);
  EXPECT_EQ(engine.stats().sandboxes_started_cold, 2u);  // one warm sandbox per version
}

}  // namespace
}  // namespace thaw

namespace thaw {
namespace {

TEST_F(EngineKvm, ASandboxIsFrozenBetweenInvocationsAndShutDownWhenIdle) {
  auto o = options();
  o.idle_timeout = std::chrono::seconds(30);
  Engine engine(o);
  engine.create_function("life", python(), {.directory = example("python-lifecycle")});
  engine.wait_until_ready("life");
  auto counts = [](const InvokeResult& r) {
    EXPECT_EQ(r.function_error, "") << r.payload;
    auto j = nlohmann::json::parse(r.payload);
    return std::pair<int64_t, int64_t>{j["at_start"].get<int64_t>(), j["at_end"].get<int64_t>()};
  };
  auto [start1, end1] = counts(engine.invoke({.function = "life", .payload = R"({"seconds": 1})"}));
  // Three seconds frozen: were the vCPUs running, the thread would count three times as much
  // as during the one-second invocation.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  auto [start2, end2] = counts(engine.invoke({.function = "life", .payload = R"({"seconds": 1})"}));
  EXPECT_GT(end1 - start1, 0) << "the thread runs while invoked";
  EXPECT_GT(end2 - start2, 0) << "the thread runs while invoked";
  EXPECT_LT(start2 - end1, end1 - start1) << "the thread ran while the sandbox was frozen";
  EXPECT_EQ(engine.stats().sandboxes_idle, 1u);
  // SHUTDOWN when idle: the runtime gets SIGTERM, and its handler's line reaches the log.
  engine.shutdown();
  logs_.wait_for_line_starting("SIGTERM received after ");
  EXPECT_EQ(engine.stats().sandboxes_idle, 0u);
}

TEST_F(EngineKvm, IdleSandboxesAreShutDownAfterTheIdleTimeout) {
  auto o = options();
  o.idle_timeout = std::chrono::seconds(1);
  Engine engine(o);
  engine.create_function("life", python(), {.directory = example("python-lifecycle")});
  engine.wait_until_ready("life");
  auto r = engine.invoke({.function = "life", .payload = R"({"seconds": 0})"});
  ASSERT_EQ(r.function_error, "") << r.payload;
  logs_.wait_for_line_starting("SIGTERM received after ");  // the reaper's SHUTDOWN
  EXPECT_EQ(engine.stats().sandboxes_idle, 0u);
  auto again = engine.invoke({.function = "life", .payload = R"({"seconds": 0})"});
  EXPECT_EQ(again.report.start, StartKind::kCold);
}

TEST_F(EngineKvm, ASandboxThatTimedOutOrCrashedIsNeverReused) {
  Engine engine(options());
  engine.create_function("slow", python(SnapStartApplyOn::kNone, 3), {.directory = example("python-timeout")});
  engine.create_function("crash", python(), {.directory = example("python-crash")});
  engine.wait_until_ready("slow");
  engine.wait_until_ready("crash");
  auto t = engine.invoke({.function = "slow", .payload = R"({"sleep_s": 30})"});
  EXPECT_EQ(t.function_error, "Unhandled");
  EXPECT_EQ(t.error_type, "Sandbox.Timedout");
  EXPECT_NE(t.payload.find("Task timed out after 3.00 seconds"), std::string::npos) << t.payload;
  auto c = engine.invoke({.function = "crash"});
  EXPECT_EQ(c.function_error, "Unhandled");
  EXPECT_EQ(c.error_type, "Runtime.ExitError");
  EXPECT_EQ(engine.stats().sandboxes_idle, 0u);
  auto t2 = engine.invoke({.function = "slow", .payload = R"({"sleep_s": 0})"});
  EXPECT_EQ(t2.function_error, "") << t2.payload;
  EXPECT_EQ(t2.report.start, StartKind::kCold) << "a timed-out sandbox was reused";
  EXPECT_EQ(engine.stats().sandboxes_started_cold, 3u);
}

}  // namespace
}  // namespace thaw

namespace thaw {
namespace {

std::string cgroup_of(const std::string& pid) {
  std::ifstream f("/proc/" + pid + "/cgroup");
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

// The VMM processes this process (the engine) spawned for its sandboxes, from /proc: each runs
// in a cgroup of its own. Spare VMM processes (EngineOptions::spare_vmm_processes) wait in the
// engine's cgroup until a sandbox takes one, and are not counted.
std::vector<pid_t> vmm_children() {
  const std::string mine = cgroup_of("self");
  std::vector<pid_t> pids;
  for (const auto& e : fs::directory_iterator("/proc")) {
    auto name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(f)), {});
    auto close = stat.rfind(')');
    if (close == std::string::npos || stat.find("(thaw-vmm)") == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == getpid() && cgroup_of(name) != mine) pids.push_back(pid_t(std::stol(name)));
  }
  return pids;
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  std::string s((std::istreambuf_iterator<char>(f)), {});
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// The emulated KVM host mounts cgroup v2 as a systemd host has it; a host without it runs
// VMM processes unconfined, which this test would not show.
TEST_F(EngineKvm, EachVmmProcessRunsInACgroupOfItsOwnWithLambdasCpuShareAndAMemoryCeiling) {
  ASSERT_TRUE(fs::exists("/sys/fs/cgroup/cgroup.controllers")) << "no cgroup v2 here";
  auto o = options();
  o.cpu_scale = 1.0;  // Lambda's share as it is: at 1,769 MB one full CPU, so no slower here
  Engine engine(o);
  auto settings = python();
  settings.memory_mb = 1769;
  engine.create_function("sized", settings, {.directory = example("python-sleep")});
  engine.wait_until_ready("sized");
  auto a = std::async(std::launch::async, [&] {
    return engine.invoke({.function = "sized", .payload = R"({"seconds": 0})"});
  });
  auto b = std::async(std::launch::async, [&] {
    return engine.invoke({.function = "sized", .payload = R"({"seconds": 0})"});
  });
  ASSERT_EQ(a.get().function_error, "");
  ASSERT_EQ(b.get().function_error, "");
  // Their VMM processes were started on the std::async threads, which have ended now.
  EXPECT_EQ(engine.stats().sandboxes_idle, 2u) << "a sandbox died with the thread that started it";
  auto pids = vmm_children();
  ASSERT_EQ(pids.size(), 2u) << "two parallel invocations, two sandboxes";
  std::vector<fs::path> groups;
  for (pid_t pid : pids) {
    auto line = read_text("/proc/" + std::to_string(pid) + "/cgroup");  // "0::/thaw/sandbox-..."
    ASSERT_EQ(line.rfind("0::", 0), 0u) << line;
    fs::path dir = fs::path("/sys/fs/cgroup") / fs::path(line.substr(3)).relative_path();
    EXPECT_EQ(dir.parent_path().filename(), "thaw") << dir;
    // Its members: the VMM process and the kernel threads KVM attaches to its VM's creator's
    // cgroups (kvm-nx-lpage-recovery), nothing else.
    std::istringstream members(read_text(dir / "cgroup.procs"));
    bool has_vmm = false;
    for (std::string member; members >> member;) {
      if (member == std::to_string(pid)) {
        has_vmm = true;
        continue;
      }
      auto comm = read_text("/proc/" + member + "/comm");
      EXPECT_EQ(comm.rfind("kvm", 0), 0u) << "process " << member << " (" << comm << ") in " << dir;
    }
    EXPECT_TRUE(has_vmm) << dir << " does not hold VMM process " << pid;
    EXPECT_EQ(read_text(dir / "cpu.max"), "100000 100000") << "1,769 MB is one full vCPU";
    EXPECT_EQ(read_text(dir / "memory.max"), std::to_string((uint64_t{1769} << 20) + (uint64_t{128} << 20)));
    EXPECT_EQ(read_text(dir / "memory.oom.group"), "1");
    std::cout << "VMM process " << pid << ": memory.current " << read_text(dir / "memory.current")
              << " bytes, memory.peak " << read_text(dir / "memory.peak") << " bytes\n";
    groups.push_back(dir);
  }
  EXPECT_NE(groups[0], groups[1]);
  engine.shutdown();
  for (const auto& g : groups) EXPECT_FALSE(fs::exists(g)) << g << " outlived its sandbox";
}

TEST_F(EngineKvm, ShutdownLetsARunningInvocationFinishThenShutsTheSandboxDown) {
  Engine engine(options());
  engine.create_function("life", python(), {.directory = example("python-lifecycle")});
  engine.wait_until_ready("life");
  auto running = std::async(std::launch::async, [&] {
    return engine.invoke({.function = "life", .payload = R"({"seconds": 4})", .request_id = "cccccccc-0000-4000-8000-000000000003"});
  });
  logs_.wait_for_line_starting("START RequestId: cccccccc-0000-4000-8000-000000000003");
  engine.shutdown(std::chrono::minutes(5));
  auto r = running.get();
  EXPECT_EQ(r.function_error, "") << r.payload;
  EXPECT_NE(r.payload.find("at_end"), std::string::npos) << r.payload;
  logs_.wait_for_line_starting("SIGTERM received after ");  // then SHUTDOWN, as when idle
  EXPECT_EQ(code_of([&] { engine.invoke({.function = "life"}); }), ErrorCode::kThrottled);
}

TEST_F(EngineKvm, ShutdownEndsAnInvocationThatOutlastsItsDrainDeadline) {
  Engine engine(options());
  engine.create_function("sleepy", python(), {.directory = example("python-sleep")});
  engine.wait_until_ready("sleepy");
  auto running = std::async(std::launch::async, [&] {
    return engine.invoke({.function = "sleepy", .payload = R"({"seconds": 50})", .request_id = "dddddddd-0000-4000-8000-000000000004"});
  });
  logs_.wait_for_line_starting("sleeping 50.0 s in dddddddd-0000-4000-8000-000000000004");
  engine.shutdown(std::chrono::milliseconds(200));
  auto r = running.get();
  EXPECT_EQ(r.error_type, "Sandbox.Error");
  EXPECT_NE(r.payload.find("the engine shut down before the invocation finished"), std::string::npos) << r.payload;
  EXPECT_TRUE(vmm_children().empty());
}

TEST_F(EngineKvm, AKilledVmmProcessFailsItsInvocationOnlyAndTheEngineServesTheNext) {
  Engine engine(options());
  engine.create_function("sleepy", python(), {.directory = example("python-sleep")});
  engine.wait_until_ready("sleepy");
  auto a = std::async(std::launch::async, [&] {
    return engine.invoke({.function = "sleepy", .payload = R"({"seconds": 50})", .request_id = "bbbbbbbb-0000-4000-8000-000000000002"});
  });
  logs_.wait_for_line_starting("sleeping 50.0 s in bbbbbbbb-0000-4000-8000-000000000002");
  auto pids = vmm_children();
  ASSERT_EQ(pids.size(), 1u) << "one sandbox, one VMM process";
  ASSERT_EQ(::kill(pids[0], SIGKILL), 0);
  auto r = a.get();
  EXPECT_EQ(r.function_error, "Unhandled");
  EXPECT_EQ(r.error_type, "Sandbox.Error");
  EXPECT_NE(r.payload.find("killed by signal 9"), std::string::npos) << r.payload;
  EXPECT_EQ(engine.stats().sandboxes_idle, 0u);
  auto next = engine.invoke({.function = "sleepy", .payload = R"({"seconds": 0})"});
  EXPECT_EQ(next.function_error, "") << next.payload;
  EXPECT_EQ(next.report.start, StartKind::kCold);
}

// Runs `callers` invocations of `payload` at once; returns how many ran, and the Reason of
// each that was throttled (any other failure fails the test).
std::pair<unsigned, std::vector<std::string>> invoke_at_once(Engine& engine, const std::string& function,
                                                             unsigned callers, const std::string& payload) {
  std::latch start(callers);
  std::mutex mu;
  unsigned ran = 0;
  std::vector<std::string> throttled;
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < callers; ++i)
    threads.emplace_back([&] {
      start.arrive_and_wait();
      try {
        auto r = engine.invoke({.function = function, .payload = payload});
        EXPECT_EQ(r.function_error, "") << r.payload;
        std::lock_guard lock(mu);
        ++ran;
      } catch (const EngineError& e) {
        EXPECT_EQ(e.code(), ErrorCode::kThrottled) << e.what();
        std::lock_guard lock(mu);
        throttled.push_back(e.reason());
      }
    });
  for (auto& t : threads) t.join();
  return {ran, throttled};
}

TEST_F(EngineKvm, ReservedConcurrencyCapsTheSandboxesAndThrottlesTheRestWithItsReason) {
  Engine engine(options());
  engine.create_function("capped", python(), {.directory = example("python-sleep")});
  engine.wait_until_ready("capped");
  // Two, not more: the emulated KVM host boots every guest on one software CPU, where more than
  // two cold starts at once run past the agent's boot allowance.
  engine.put_function_concurrency("capped", 2);
  EXPECT_EQ(engine.get_function_concurrency("capped"), 2u);

  // The engine's own counts, sampled all along: never more than two sandboxes or invocations.
  std::atomic<bool> sampling{true};
  std::atomic<unsigned> most_sandboxes{0}, most_running{0};
  std::thread sampler([&] {
    while (sampling) {
      auto s = engine.stats();
      most_sandboxes = std::max(most_sandboxes.load(), s.sandboxes);
      most_running = std::max(most_running.load(), s.concurrent_executions);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });

  // 32 callers at once on no sandbox: two are admitted and start one each (a cold start holds
  // its slot for seconds), every other is throttled at once with the reserved Reason.
  auto [ran_cold, throttled] = invoke_at_once(engine, "capped", 32, R"({"seconds": 2})");
  EXPECT_GE(ran_cold, 1u);
  EXPECT_GE(throttled.size(), 1u);
  EXPECT_EQ(ran_cold + throttled.size(), 32u);
  for (const auto& reason : throttled) EXPECT_EQ(reason, "ReservedFunctionConcurrentInvocationLimitExceeded");

  // 32 callers at once on the warm sandboxes: each runs on one of them or is throttled.
  auto [ran, refused] = invoke_at_once(engine, "capped", 32, R"({"seconds": 0})");
  EXPECT_GE(ran, 1u);
  EXPECT_EQ(ran + refused.size(), 32u);
  for (const auto& reason : refused) EXPECT_EQ(reason, "ReservedFunctionConcurrentInvocationLimitExceeded");
  sampling = false;
  sampler.join();
  EXPECT_LE(most_sandboxes.load(), 2u);
  EXPECT_LE(most_running.load(), 2u);
  auto stats = engine.stats();
  EXPECT_LE(stats.sandboxes_started_cold, 2u);
  EXPECT_EQ(stats.sandboxes_started_cold + stats.sandboxes_reused, ran_cold + ran);
  EXPECT_EQ(stats.throttles, throttled.size() + refused.size());
  EXPECT_EQ(stats.sandboxes, stats.sandboxes_started_cold);
  EXPECT_EQ(stats.concurrent_executions, 0u);

  // Nothing leaks: released, every VMM process is gone.
  engine.release_idle_sandboxes();
  EXPECT_TRUE(vmm_children().empty());
  EXPECT_EQ(engine.stats().sandboxes, 0u);
  EXPECT_EQ(engine.stats().sandbox_memory_mb, 0u);

  // Reserved 0 is the kill switch; deleting the reservation lifts it.
  engine.put_function_concurrency("capped", 0);
  EXPECT_EQ(code_of([&] { engine.invoke({.function = "capped"}); }), ErrorCode::kThrottled);
  engine.delete_function_concurrency("capped");
  EXPECT_FALSE(engine.get_function_concurrency("capped"));
  auto after = engine.invoke({.function = "capped", .payload = R"({"seconds": 0})"});
  EXPECT_EQ(after.function_error, "") << after.payload;
}

// Invokes `qualifier` of `function` from `n` threads at once; the results in thread order.
std::vector<InvokeResult> invoke_together(Engine& engine, const std::string& function, const std::string& qualifier,
                                          unsigned n, const std::string& payload) {
  std::vector<InvokeResult> results(n);
  std::latch go(n);
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      go.arrive_and_wait();
      results[i] = engine.invoke({.function = function, .qualifier = qualifier, .payload = payload});
    });
  for (auto& t : threads) t.join();
  return results;
}

bool report_names_a_start(const InvokeResult& r) {
  for (const auto& line : r.log_lines)
    if (line.starts_with("REPORT") &&
        (line.find("Init Duration") != std::string::npos || line.find("Restore Duration") != std::string::npos))
      return true;
  return false;
}

TEST_F(EngineKvm, ProvisionedSandboxesAreReadyBeforeTheFirstInvokeAndTheThirdSpillsOver) {
  Engine engine(options());
  engine.create_function("ahead", python(), {.directory = example("python-sleep")});
  engine.wait_until_ready("ahead");
  const std::string v = engine.publish_version("ahead").version;
  engine.wait_until_ready("ahead", v);
  EXPECT_EQ(code_of([&] { engine.put_provisioned_concurrency("ahead", "$LATEST", 1); }), ErrorCode::kInvalidParameter);
  EXPECT_EQ(engine.put_provisioned_concurrency("ahead", v, 2).status, ProvisionedStatus::kInProgress);

  // The provisioner starts them one after the other (cold: this version has no snapshot).
  ProvisionedConcurrencyInfo info;
  for (int i = 0; i < 6000; ++i) {
    info = engine.get_provisioned_concurrency("ahead", v);
    if (info.status != ProvisionedStatus::kInProgress) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(info.status, ProvisionedStatus::kReady) << info.status_reason;
  EXPECT_EQ(info.allocated, 2u);
  EXPECT_EQ(engine.stats().sandboxes, 2u);
  EXPECT_EQ(engine.stats().sandboxes_idle, 2u);

  // Two at once: both on the provisioned sandboxes, whose INIT is in no REPORT.
  for (const auto& r : invoke_together(engine, "ahead", v, 2, R"({"seconds": 1})")) {
    EXPECT_EQ(r.function_error, "") << r.payload;
    EXPECT_EQ(r.report.start, StartKind::kWarm);
    EXPECT_FALSE(report_names_a_start(r));
  }
  EXPECT_EQ(engine.stats().sandboxes_started_cold, 2u);

  // Three at once: the third spills over to an on-demand sandbox, cold-started.
  unsigned cold = 0;
  for (const auto& r : invoke_together(engine, "ahead", v, 3, R"({"seconds": 2})")) {
    EXPECT_EQ(r.function_error, "") << r.payload;
    cold += r.report.start == StartKind::kCold;
  }
  EXPECT_EQ(cold, 1u);
  EXPECT_EQ(engine.stats().sandboxes, 3u);

  // Idle release spares them; deleting the configuration shuts them down.
  engine.release_idle_sandboxes();
  EXPECT_EQ(engine.stats().sandboxes, 2u);
  engine.delete_provisioned_concurrency("ahead", v);
  EXPECT_EQ(engine.stats().sandboxes, 0u);
  EXPECT_TRUE(vmm_children().empty());
  EXPECT_EQ(code_of([&] { engine.get_provisioned_concurrency("ahead", v); }), ErrorCode::kProvisionedConfigNotFound);
}

}  // namespace
}  // namespace thaw
