// A function's log in the data directory: streams named as Lambda names them, lines merged in
// time order across streams, a follow read returning only what was appended since, a line not
// yet ended waiting for its newline, foreign lines kept.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "engine/function_logs.h"

namespace thaw::engine {
namespace {
namespace fs = std::filesystem;

class FunctionLogs : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("thaw-logs-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(FunctionLogs, StreamsAreNamedAsLambdaNamesThem) {
  EXPECT_EQ(log_stream_name(1764720000123, "$LATEST", "0123456789abcdef0123456789abcdef"),
            "2025/12/03/[$LATEST]0123456789abcdef0123456789abcdef");
  LogStreamWriter w(dir_, "f", "7");
  EXPECT_TRUE(std::regex_match(w.stream(), std::regex(R"(\d{4}/\d{2}/\d{2}/\[7\][0-9a-f]{32})"))) << w.stream();
  EXPECT_TRUE(fs::is_regular_file(dir_ / "f" / w.stream()));
}

TEST_F(FunctionLogs, StreamsMergeInTimeOrderAndAFollowReadsOnlyWhatIsNew) {
  LogStreamWriter a(dir_, "f", "$LATEST"), b(dir_, "f", "1");
  a.append(1000, "START a");
  b.append(1500, "START b");
  a.append(2000, "an event\nof two lines, a \\n and a \\ in its text");
  a.append(2000, "same time, after it");
  FunctionLogReader reader(dir_, "f");
  ASSERT_TRUE(reader.exists());
  auto first = reader.read_new();
  ASSERT_EQ(first.size(), 4u);
  EXPECT_EQ(first[0].message, "START a");
  EXPECT_EQ(first[1].message, "START b");
  EXPECT_EQ(first[1].stream, b.stream());
  EXPECT_EQ(first[2].message, "an event\nof two lines, a \\n and a \\ in its text") << "one event, its lines kept";
  EXPECT_EQ(first[3].message, "same time, after it");
  EXPECT_EQ(first[3].timestamp_ms, 2000);

  EXPECT_TRUE(reader.read_new().empty());
  b.append(3000, "REPORT b");
  auto next = reader.read_new();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].message, "REPORT b");
  // --since: older lines left out, at a fresh read.
  FunctionLogReader recent(dir_, "f");
  EXPECT_EQ(recent.read_new(2000).size(), 3u);
  EXPECT_FALSE(FunctionLogReader(dir_, "g").exists());
  EXPECT_TRUE(FunctionLogReader(dir_, "g").read_new().empty());
}

TEST_F(FunctionLogs, AnUnendedLineWaitsAndAForeignLineIsKept) {
  LogStreamWriter w(dir_, "f", "$LATEST");
  FunctionLogReader reader(dir_, "f");
  {
    std::ofstream f(dir_ / "f" / w.stream(), std::ios::app);
    f << "not a record\n42\thalf";
  }
  auto got = reader.read_new();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].timestamp_ms, 0);
  EXPECT_EQ(got[0].message, "not a record");
  {
    std::ofstream f(dir_ / "f" / w.stream(), std::ios::app);
    f << " a line\n";
  }
  got = reader.read_new();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].timestamp_ms, 42);
  EXPECT_EQ(got[0].message, "half a line");
}

}  // namespace
}  // namespace thaw::engine
