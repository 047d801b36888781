// Real databases on the network (label kvm): Debian's redis-server and PostgreSQL on the host
// side of the sandboxes' uplinks, and a function (examples/functions/python-db) that reaches
// them with Debian's python3-redis and python3-psycopg2, brought as layers
// (scripts/debian-python-layer.sh, built with the test images). It connects at INIT; under
// SnapStart its hooks close the connections before the snapshot and open new ones in each
// restored clone. Without the hooks, a clone's first invocation meets the dead connection its
// snapshot holds, as a function error the caller sees, until the code reconnects.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/kvm/engine/database_servers.h"
#include "tests/kvm/engine/network_fixture.h"
#include "thaw/engine.h"

namespace thaw {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using test::kServerAddress;
using test::server_destination;

constexpr uint16_t kRedisPort = 6379, kPostgresPort = 5432;

class Databases : public test::EngineNetworkTest {
 protected:
  void SetUp() override {
    EngineNetworkTest::SetUp();
    redis_ = std::make_unique<test::RedisServer>(kServerAddress, kRedisPort, data_ / "redis");
    // The cluster lives in /tmp: PostgreSQL wants its data directory owned by its user, which
    // the build directory (9p in the emulated KVM host) cannot give.
    postgres_ = std::make_unique<test::PostgresServer>(
        kServerAddress, kPostgresPort, fs::path("/tmp") / ("thaw-test-pg-" + std::to_string(::getpid())));
    postgres_->query("CREATE TABLE clones (id serial PRIMARY KEY, clone text NOT NULL, count bigint)");
  }
  void TearDown() override {
    postgres_.reset();
    redis_.reset();
    EngineNetworkTest::TearDown();
  }

  // The python-db function with both client libraries as layers, published as version 1
  // (SnapStart), its INIT connected to both servers.
  void publish_db_function(Engine& engine, bool hooks) {
    FunctionSettings s = net_function({server_destination(kRedisPort), server_destination(kPostgresPort)},
                                      SnapStartApplyOn::kPublishedVersions);
    for (const char* layer : {"redis", "psycopg2"}) {
      fs::path content = fs::path(THAW_BINARY_DIR) / "test-layers" / layer;
      ASSERT_TRUE(fs::exists(content / "python")) << content << " is built by scripts/build-test-images.sh";
      s.layers.push_back(engine.publish_layer_version(layer, {}, {.directory = content.string()}).layer_version_arn);
    }
    s.environment["REDIS"] = server_destination(kRedisPort);
    s.environment["POSTGRES"] = postgres_->connection_string();
    if (!hooks) s.environment["DB_HOOKS"] = "off";
    engine.create_function("db", s, {.directory = test::example_function("python-db")});
    engine.wait_until_ready("db");
    engine.publish_version("db");
    auto v1 = engine.wait_until_ready("db", "1");
    ASSERT_TRUE(v1.snap_start_optimized) << v1.state_reason;
  }

  // The sandboxes' sessions: PostgreSQL's application names and Redis' client names, sorted.
  std::vector<std::string> postgres_sessions() const {
    std::string rows = postgres_->query(
        "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'thaw-%' ORDER BY 1");
    std::vector<std::string> names;
    for (size_t at = 0; at < rows.size();) {
      size_t nl = std::min(rows.find('\n', at), rows.size());
      names.push_back(rows.substr(at, nl - at));
      at = nl + 1;
    }
    return names;
  }
  std::vector<std::string> redis_clients() const {
    auto names = redis_->client_names();
    std::erase_if(names, [](const std::string& n) { return !n.starts_with("thaw-"); });
    std::sort(names.begin(), names.end());
    return names;
  }

  std::unique_ptr<test::RedisServer> redis_;
  std::unique_ptr<test::PostgresServer> postgres_;
};

TEST_F(Databases, ThreeClonesReconnectInTheirHooksAndOutliveTheServersIdleTimeout) {
  Engine engine(options());
  publish_db_function(engine, true);
  EXPECT_EQ(redis_clients(), std::vector<std::string>{}) << "the before-snapshot hook closed INIT's connection";
  EXPECT_EQ(postgres_sessions(), std::vector<std::string>{});

  // Three invocations at once, each holding its sandbox until all three have counted: three
  // clones restored from the one snapshot.
  std::vector<InvokeResult> results(3);
  {
    std::vector<std::jthread> callers;
    for (auto& r : results)
      callers.emplace_back([&] { r = engine.invoke({.function = "db:1", .payload = R"({"barrier": 3})"}); });
  }
  std::set<std::string> clones;
  std::set<int> counts;
  std::vector<std::string> names;
  for (const auto& r : results) {
    ASSERT_EQ(r.function_error, "") << r.payload;
    EXPECT_EQ(r.report.start, StartKind::kRestored);
    json body = json::parse(r.payload);
    clones.insert(body["clone"].get<std::string>());
    counts.insert(body["count"].get<int>());
    names.push_back("thaw-" + body["clone"].get<std::string>());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(clones.size(), 3u) << "each clone took an id of its own after its restore";
  EXPECT_EQ(counts, (std::set<int>{1, 2, 3}));
  EXPECT_EQ(redis_->command({"GET", "invocations"}), "3");
  EXPECT_EQ(postgres_->query("SELECT count(*), count(DISTINCT clone) FROM clones WHERE count IS NOT NULL"), "3|3");
  // Each clone's after-restore hook opened one new connection to each server.
  EXPECT_EQ(redis_clients(), names);
  EXPECT_EQ(postgres_sessions(), names);

  // The sandboxes are frozen between invocations. Redis now closes connections idle for a
  // second; once it has closed all three, an invocation finds its connection gone and
  // redis-py (retry_on_error) reconnects and sends the command again.
  redis_->command({"CONFIG", "SET", "timeout", "1"});
  while (!redis_clients().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  redis_->command({"CONFIG", "SET", "timeout", "0"});
  InvokeResult warm;
  json body = call(engine, "db:1", json::object(), &warm);
  EXPECT_EQ(warm.report.start, StartKind::kWarm);
  EXPECT_EQ(body["count"], 4) << body;
  EXPECT_EQ(redis_clients(), std::vector<std::string>{"thaw-" + body["clone"].get<std::string>()});
  EXPECT_EQ(engine.stats().sandboxes_restored, 3u);
}

TEST_F(Databases, WithoutHooksARestoredCloneFailsOnItsSnapshotsConnectionUntilItReconnects) {
  Engine engine(options());
  publish_db_function(engine, false);

  // The snapshot holds INIT's PostgreSQL connection; the server never heard of the clone's copy.
  auto r = engine.invoke({.function = "db:1", .payload = "{}"});
  EXPECT_EQ(r.report.start, StartKind::kRestored);
  EXPECT_EQ(r.function_error, "Unhandled") << "a function error, not an engine failure: " << r.payload;
  EXPECT_EQ(r.error_type, "OperationalError") << r.payload;
  json error = json::parse(r.payload);
  EXPECT_NE(error["errorMessage"].get<std::string>().find("server closed the connection unexpectedly"),
            std::string::npos)
      << r.payload;
  EXPECT_EQ(postgres_->query("SELECT count(*) FROM clones"), "0") << "nothing half done";

  // The same sandbox, with the retry-on-error pattern: it reconnects and the work is done.
  json body = call(engine, "db:1", {{"retry", true}}, &r);
  EXPECT_EQ(r.report.start, StartKind::kWarm);
  EXPECT_EQ(body["count"], 1) << body;
  bool reconnected = std::any_of(r.log_lines.begin(), r.log_lines.end(),
                                 [](const std::string& l) { return l.find("reconnecting after") != std::string::npos; });
  EXPECT_TRUE(reconnected) << "the function's log says why it reconnected";
  EXPECT_EQ(postgres_->query("SELECT count(*) FROM clones WHERE count = 1"), "1");
  EXPECT_EQ(engine.stats().sandboxes_restored, 1u);
}

}  // namespace
}  // namespace thaw
