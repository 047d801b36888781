// thaw::Engine's control plane without a VM: functions, versions, aliases, their errors, and
// what survives a restart. Images are really built (the provided runtime's, from a stand-in
// agent); nothing boots.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/common/engine_errors.h"
#include "tests/common/engine_without_vm.h"
#include "thaw/engine.h"

namespace thaw {
namespace {
namespace fs = std::filesystem;

using test::code_of;

using EngineControlPlane = test::EngineWithoutVm;

TEST_F(EngineControlPlane, CreatePublishAliasAndRestart) {
  std::string rev_v1, sha;
  {
    Engine engine(options());
    auto created = engine.create_function("shell", provided(), {.directory = code_});
    EXPECT_EQ(created.state, FunctionState::kPending);
    EXPECT_EQ(created.arn, "arn:aws:lambda:us-east-1:000000000000:function:shell");
    EXPECT_EQ(created.settings.memory_mb, 128u);
    EXPECT_EQ(created.settings.timeout_s, 3u);
    auto active = engine.wait_until_ready("shell");
    EXPECT_EQ(active.state, FunctionState::kActive);
    EXPECT_EQ(active.last_update_status, LastUpdateStatus::kSuccessful);
    sha = active.code_sha256;

    EXPECT_EQ(code_of([&] { engine.create_function("shell", provided(), {.directory = code_}); }), ErrorCode::kConflict);
    auto v1 = engine.publish_version("shell", "first");
    EXPECT_EQ(v1.version, "1");
    EXPECT_EQ(v1.arn, "arn:aws:lambda:us-east-1:000000000000:function:shell:1");
    EXPECT_EQ(v1.state, FunctionState::kActive);  // no SnapStart: nothing to wait for
    EXPECT_EQ(engine.publish_version("shell").version, "1");  // nothing changed since
    rev_v1 = v1.revision_id;

    FunctionSettingsUpdate u;
    u.timeout_s = 7;
    u.environment = std::map<std::string, std::string>{{"GREETING", "hi"}};
    auto updated = engine.update_function_configuration("shell", u);
    EXPECT_NE(updated.revision_id, active.revision_id);
    u.revision_id = active.revision_id;  // stale
    engine.wait_until_ready("shell");
    EXPECT_EQ(code_of([&] { engine.update_function_configuration("shell", u); }), ErrorCode::kPreconditionFailed);
    auto v2 = engine.publish_version("shell");
    EXPECT_EQ(v2.version, "2");
    EXPECT_EQ(v2.settings.timeout_s, 7u);
    EXPECT_EQ(engine.get_function("shell", "1").settings.timeout_s, 3u);  // versions are immutable

    auto live = engine.create_alias("shell", "live", {.function_version = "1", .routing = AliasRouting{"2", 0.25}});
    EXPECT_EQ(live.arn, "arn:aws:lambda:us-east-1:000000000000:function:shell:live");
    EXPECT_EQ(engine.get_function("shell:live").version, "1");
    EXPECT_EQ(engine.get_function("arn:aws:lambda:us-east-1:000000000000:function:shell", "2").version, "2");
    EXPECT_EQ(code_of([&] { engine.create_alias("shell", "bad", {.function_version = "9"}); }), ErrorCode::kNotFound);
    EXPECT_EQ(code_of([&] { engine.create_alias("shell", "live", {.function_version = "1"}); }), ErrorCode::kConflict);
    EXPECT_EQ(code_of([&] { engine.delete_function("shell", "1"); }), ErrorCode::kConflict);  // the alias uses it
    EXPECT_EQ(code_of([&] { engine.delete_function("shell", "$LATEST"); }), ErrorCode::kInvalidParameter);
    EXPECT_EQ(code_of([&] { engine.get_function("nope"); }), ErrorCode::kNotFound);
    EXPECT_EQ(code_of([&] { engine.get_function("shell", "5"); }), ErrorCode::kNotFound);
    EXPECT_EQ(code_of([&] { engine.invoke({.function = "nope"}); }), ErrorCode::kNotFound);
    EXPECT_EQ(code_of([&] { engine.invoke({.function = "shell", .payload = std::string(6 * 1024 * 1024 + 1, 'x')}); }),
              ErrorCode::kTooLarge);
  }
  // A new engine on the same data directory sees the same functions, versions and aliases.
  Engine engine(options());
  auto versions = engine.list_versions("shell");
  ASSERT_EQ(versions.size(), 3u);
  EXPECT_EQ(versions[0].version, "$LATEST");
  EXPECT_EQ(versions[1].revision_id, rev_v1);
  EXPECT_EQ(versions[1].code_sha256, sha);
  EXPECT_EQ(versions[2].settings.environment.at("GREETING"), "hi");
  auto alias = engine.get_alias("shell", "live");
  ASSERT_TRUE(alias.routing);
  EXPECT_EQ(alias.routing->version, "2");
  EXPECT_DOUBLE_EQ(alias.routing->weight, 0.25);
  EXPECT_EQ(engine.publish_version("shell").version, "2");
  EXPECT_EQ(engine.stats().functions, 1u);

  engine.delete_alias("shell", "live");
  engine.delete_function("shell", "1");
  EXPECT_EQ(engine.list_versions("shell").size(), 2u);
  engine.delete_function("shell");
  EXPECT_TRUE(engine.list_functions().empty());
  // Its code and images went with it.
  EXPECT_TRUE(fs::is_empty(dir_ / "data/code"));
  EXPECT_TRUE(fs::is_empty(dir_ / "data/images"));
}

TEST_F(EngineControlPlane, AVersionThatIsStillPendingIsNotReady) {
  Engine engine(options(0));  // no builders: what is created stays Pending
  engine.create_function("shell", provided(), {.directory = code_});
  EXPECT_EQ(engine.get_function("shell").state, FunctionState::kPending);
  EXPECT_EQ(code_of([&] { engine.invoke({.function = "shell"}); }), ErrorCode::kNotReady);
  EXPECT_EQ(code_of([&] { engine.publish_version("shell"); }), ErrorCode::kConflict);
  EXPECT_EQ(code_of([&] { engine.wait_until_ready("shell", "", std::chrono::milliseconds(10)); }),
            ErrorCode::kNotReady);
}

TEST_F(EngineControlPlane, BadCodeOrSettingsAreRefusedAndAFailedBuildSaysWhy) {
  Engine engine(options());
  FunctionSettings s = provided();
  s.memory_mb = 64;
  EXPECT_EQ(code_of([&] { engine.create_function("shell", s, {.directory = code_}); }), ErrorCode::kInvalidParameter);
  s = provided();
  s.runtime = "cobol";
  EXPECT_EQ(code_of([&] { engine.create_function("shell", s, {.directory = code_}); }), ErrorCode::kInvalidParameter);
  EXPECT_EQ(code_of([&] { engine.create_function("bad name", provided(), {.directory = code_}); }),
            ErrorCode::kInvalidParameter);
  // A provided function without a bootstrap fails its image build: Failed, with the reason.
  fs::create_directories(dir_ / "nobootstrap");
  std::ofstream(dir_ / "nobootstrap/readme.txt") << "no bootstrap here\n";
  engine.create_function("empty", provided(), {.directory = (dir_ / "nobootstrap").string()});
  EXPECT_EQ(code_of([&] { engine.wait_until_ready("empty"); }), ErrorCode::kSandboxError);
  auto failed = engine.get_function("empty");
  EXPECT_EQ(failed.state, FunctionState::kFailed);
  EXPECT_NE(failed.state_reason.find("bootstrap"), std::string::npos) << failed.state_reason;
  EXPECT_EQ(code_of([&] { engine.invoke({.function = "empty"}); }), ErrorCode::kNotReady);
}

TEST_F(EngineControlPlane, OneEngineAtATimeUsesADataDirectory) {
  Engine first(options(0));
  try {
    Engine second(options(0));
    ADD_FAILURE() << "two engines opened one data directory";
  } catch (const EngineError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kConflict);
    EXPECT_NE(std::string(e.what()).find("pid " + std::to_string(getpid())), std::string::npos) << e.what();
  }
}

TEST_F(EngineControlPlane, LeftoversOfAKilledEngineAreClearedOnOpen) {
  {
    Engine engine(options());
    engine.create_function("shell", provided(), {.directory = code_});
    engine.wait_until_ready("shell");
  }
  auto data = dir_ / "data";
  fs::create_directories(data / "images/orphan");
  fs::create_directories(data / "work/image-deadbeef");
  std::ofstream(data / "functions/shell.json.tmp-1-2") << "{";
  std::ofstream(data / "code" / (std::string(64, 'f') + ".zip")) << "x";
  Engine engine(options());
  EXPECT_EQ(engine.get_function("shell").state, FunctionState::kActive);
  EXPECT_FALSE(fs::exists(data / "images/orphan"));
  EXPECT_TRUE(fs::is_empty(data / "work"));
  EXPECT_FALSE(fs::exists(data / "functions/shell.json.tmp-1-2"));
  EXPECT_FALSE(fs::exists(data / "code" / (std::string(64, 'f') + ".zip")));
}

TEST_F(EngineControlPlane, ReservedConcurrencySurvivesARestartAndGoesWithItsFunction) {
  auto o = options();
  o.concurrency.account_limit = 20;
  o.concurrency.unreserved_minimum = 5;
  {
    Engine engine(o);
    engine.create_function("shell", provided(), {.directory = code_});
    engine.put_function_concurrency("shell", 10);
    EXPECT_EQ(engine.account_settings().concurrent_executions, 20u);
    EXPECT_EQ(engine.account_settings().unreserved_concurrent_executions, 10u);
    EXPECT_EQ(code_of([&] { engine.put_function_concurrency("shell", 16); }), ErrorCode::kInvalidParameter);
    EXPECT_EQ(engine.get_function_concurrency("shell"), 10u);  // a refused change changes nothing
    EXPECT_EQ(code_of([&] { engine.put_function_concurrency("shell:1", 1); }), ErrorCode::kInvalidParameter);
    EXPECT_EQ(code_of([&] { engine.put_function_concurrency("nope", 1); }), ErrorCode::kNotFound);
  }
  {
    Engine engine(o);
    EXPECT_EQ(engine.get_function_concurrency("shell"), 10u);
    EXPECT_EQ(engine.account_settings().unreserved_concurrent_executions, 10u);
    engine.delete_function("shell");
    EXPECT_EQ(engine.account_settings().unreserved_concurrent_executions, 20u);
    engine.create_function("shell", provided(), {.directory = code_});
    EXPECT_FALSE(engine.get_function_concurrency("shell"));
  }
}

TEST_F(EngineControlPlane, DefaultLimitsComeFromThisHostsMemory) {
  auto o = options();
  o.concurrency.memory_budget_mb = 1024;
  Engine engine(o);
  auto a = engine.account_settings();
  EXPECT_EQ(a.memory_budget_mb, 1024u);
  EXPECT_EQ(a.concurrent_executions, 8u) << "as many 128 MB sandboxes as the budget holds";
  EXPECT_EQ(a.unreserved_minimum, 1u);
}

TEST_F(EngineControlPlane, NetworkDestinationsAreCheckedKeptInCanonicalFormAndVersioned) {
  {
    Engine engine(options(0));
    auto s = provided();
    s.network_allow = {"198.19.0.1:6379", "10.0.0.0/24", "198.19.0.1/32:6379"};
    auto f = engine.create_function("net", s, {.directory = code_});
    EXPECT_EQ(f.settings.network_allow, (std::vector<std::string>{"198.19.0.1:6379", "10.0.0.0/24"}))
        << "one entry per destination, written one way";
    s.network_allow = {"10.0.0.5/24"};
    EXPECT_EQ(code_of([&] { engine.create_function("bad", s, {.directory = code_}); }), ErrorCode::kInvalidParameter);
    s.network_allow = {"subnet-0abc"};
    try {
      engine.create_function("bad", s, {.directory = code_});
      ADD_FAILURE() << "a subnet id is no destination";
    } catch (const EngineError& e) {
      EXPECT_NE(std::string(e.what()).find("'subnet-0abc': not an IPv4 address"), std::string::npos) << e.what();
    }
  }
  Engine engine(options());
  auto f = engine.wait_until_ready("net");
  EXPECT_EQ(f.settings.network_allow.size(), 2u) << "kept across a restart";
  engine.publish_version("net");
  FunctionSettingsUpdate off;
  off.network_allow = std::vector<std::string>{};
  engine.update_function_configuration("net", off);
  EXPECT_TRUE(engine.wait_until_ready("net").settings.network_allow.empty());
  EXPECT_EQ(engine.get_function("net", "1").settings.network_allow.size(), 2u) << "a published version keeps its own";
}

}  // namespace
}  // namespace thaw
