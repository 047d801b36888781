#include "base/child_process.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "base/error.h"

namespace thaw {
namespace {
using namespace std::chrono_literals;

std::string log_path(const char* name) {
  return ::testing::TempDir() + "child-process-" + std::to_string(::getpid()) + "-" + name + ".log";
}

std::string error_of(const ChildProcess& p, std::chrono::milliseconds limit, const std::function<bool()>& ready) {
  try {
    p.wait_until_up("helper", limit, ready);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ChildProcess, IsUpWhenItAnswersAndIsStoppedWithItsOwner) {
  unsigned asked = 0;
  {
    ChildProcess p({"/bin/sleep", "600"}, log_path("up"));
    EXPECT_EQ(error_of(p, 10min, [&] { return ++asked == 3; }), "");
    EXPECT_TRUE(p.running());
  }
  EXPECT_EQ(asked, 3u);
}

TEST(ChildProcess, OneThatExitsWhileStartingIsAnErrorWithItsLog) {
  ChildProcess p({"/bin/sh", "-c", "echo 'bind: address in use' >&2; exit 3"}, log_path("exits"));
  std::string e = error_of(p, 10min, [] { return false; });
  EXPECT_NE(e.find("helper exited while starting"), std::string::npos) << e;
  EXPECT_NE(e.find("bind: address in use"), std::string::npos) << e;
  EXPECT_FALSE(p.running());
}

TEST(ChildProcess, OneThatNeverAnswersIsAnErrorAtTheLimit) {
  ChildProcess p({"/bin/sh", "-c", "echo starting; exec sleep 600"}, log_path("silent"));
  std::string e = error_of(p, 100ms, [] { return false; });
  EXPECT_NE(e.find("helper did not come up"), std::string::npos) << e;
  EXPECT_TRUE(p.running());
}

TEST(ChildProcess, AProgramThatCannotBeSpawnedIsASystemError) {
  EXPECT_THROW(ChildProcess({"/nonexistent/thaw-helper"}, log_path("missing")), SystemError);
}

}  // namespace
}  // namespace thaw
