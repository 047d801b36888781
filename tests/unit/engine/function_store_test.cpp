// The function store's crash safety: a writer killed (SIGKILL) after every step of every write
// leaves the previous record or the new one, never a mix, and the next open clears its temp
// files.
#include "engine/function_store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include "base/atomic_file.h"
#include "base/error.h"

namespace thaw::engine {
namespace {
namespace fs = std::filesystem;

FunctionRecord record(unsigned versions, unsigned aliases) {
  FunctionRecord r;
  r.name = "crashy";
  r.latest.version = "$LATEST";
  r.latest.settings.handler = "lambda_function.handler";
  r.latest.settings.memory_mb = 256;
  r.latest.settings.timeout_s = 3;
  r.latest.settings.environment = {{"K", "V"}};
  r.latest.code_sha256_hex = std::string(64, 'a');
  r.latest.revision_id = "rev-" + std::to_string(versions);
  r.latest.state = FunctionState::kActive;
  r.latest.last_update_status = LastUpdateStatus::kSuccessful;
  for (unsigned n = 1; n <= versions; ++n) {
    VersionRecord v = r.latest;
    v.version = std::to_string(n);
    v.snapshot = "snap-" + std::to_string(n);
    r.versions.emplace(n, v);
  }
  r.last_version = versions;
  for (unsigned a = 0; a < aliases; ++a)
    r.aliases.emplace("alias" + std::to_string(a), AliasRecord{"alias" + std::to_string(a), "1", "", "r",
                                                               AliasRouting{"2", 0.25}});
  return r;
}

class FunctionStoreCrash : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("thaw-store-" + std::to_string(getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `write` in a child killed at step `kill_at` (1-based) of its atomic writes; true if it
  // finished before reaching that step.
  bool run_killed_at(unsigned kill_at, const std::function<void(FunctionStore&)>& write) {
    pid_t pid = fork();
    if (pid == 0) {
      unsigned steps = 0;
      set_atomic_write_observer([&](AtomicWriteStep) {
        if (++steps == kill_at) ::raise(SIGKILL);
      });
      FunctionStore store(dir_);
      write(store);
      ::_exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
      EXPECT_EQ(WTERMSIG(status), SIGKILL);
      return false;
    }
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return true;
  }

  fs::path dir_;
};

TEST_F(FunctionStoreCrash, EveryKillLeavesTheOldRecordOrTheNew) {
  const FunctionRecord before = record(1, 0), after = record(3, 2);
  unsigned kills = 0;
  for (unsigned kill_at = 1;; ++kill_at) {
    fs::remove_all(dir_);
    FunctionStore(dir_).save(before);
    bool finished = run_killed_at(kill_at, [&](FunctionStore& s) { s.save(after); });
    FunctionStore reopened(dir_);
    auto got = reopened.load("crashy");
    ASSERT_TRUE(got) << "the record vanished when killed at step " << kill_at;
    std::string text = to_json_text(*got);
    EXPECT_TRUE(text == to_json_text(before) || text == to_json_text(after)) << "a mix at step " << kill_at;
    if (kill_at >= 4) {
      EXPECT_EQ(text, to_json_text(after)) << "renamed, yet the old record at step " << kill_at;
    }
    for (const auto& e : fs::directory_iterator(dir_))
      EXPECT_EQ(e.path().filename(), "crashy.json") << "left behind after step " << kill_at;
    if (finished) break;
    ++kills;
  }
  EXPECT_EQ(kills, 5u);  // one kill after each of the five steps of an atomic write
}

TEST_F(FunctionStoreCrash, AKilledFirstWriteLeavesNoRecordOrAWholeOne) {
  const FunctionRecord r = record(2, 1);
  for (unsigned kill_at = 1;; ++kill_at) {
    fs::remove_all(dir_);
    bool finished = run_killed_at(kill_at, [&](FunctionStore& s) { s.save(r); });
    auto got = FunctionStore(dir_).load_all();
    if (!got.empty()) {
      ASSERT_EQ(got.size(), 1u);
      EXPECT_EQ(to_json_text(got.begin()->second), to_json_text(r));
    }
    if (finished) break;
  }
}

TEST(FunctionStore, RecordsRoundTripAndBadFilesAreSkipped) {
  auto dir = fs::temp_directory_path() / ("thaw-store-rt-" + std::to_string(getpid()));
  fs::remove_all(dir);
  FunctionStore store(dir);
  auto r = record(2, 1);
  r.name = "good";
  store.save(r);
  std::ofstream(dir / "broken.json") << "{\"format\": 1, \"name\": ";
  auto all = store.load_all();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(to_json_text(all.at("good")), to_json_text(r));
  EXPECT_TRUE(fs::exists(dir / "broken.json"));  // left for a person to look at
  store.remove("good");
  EXPECT_FALSE(store.load("good"));
  EXPECT_THROW(function_record_from_json_text("{\"format\": 2}"), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace thaw::engine
