// The guest console split into lines for the log, and its last lines kept for boot errors.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "engine/console_lines.h"

namespace thaw::engine {
namespace {

void put(ConsoleLines& c, std::string_view s) {
  for (char ch : s) c.put(static_cast<uint8_t>(ch));
}

TEST(ConsoleLines, CompleteLinesGoToTheSinkWithoutCarriageReturns) {
  std::vector<std::string> seen;
  ConsoleLines c([&](std::string_view l) { seen.emplace_back(l); });
  put(c, "first\r\nsecond\npart");
  EXPECT_EQ(seen, (std::vector<std::string>{"first", "second"}));
}

TEST(ConsoleLines, TheTailKeepsTheLastLinesAndTheUnfinishedOne) {
  ConsoleLines c(nullptr);
  EXPECT_EQ(c.describe_tail(), "; the guest printed nothing on its console");
  for (int i = 0; i < 20; ++i) put(c, "line " + std::to_string(i) + "\n");
  put(c, "Kernel panic - not syncing");
  std::string tail = c.describe_tail();
  EXPECT_EQ(tail.find("line 7\n"), std::string::npos) << tail;
  EXPECT_NE(tail.find("\n  line 8\n"), std::string::npos) << tail;
  EXPECT_NE(tail.find("\n  line 19\n  Kernel panic - not syncing"), std::string::npos) << tail;
}

TEST(ConsoleLines, AnOverlongLineIsCutNotGrown) {
  ConsoleLines c(nullptr);
  put(c, std::string(ConsoleLines::kMaxLine * 2, 'x') + "\n");
  EXPECT_LE(c.describe_tail().size(), ConsoleLines::kMaxLine + 64);
}

}  // namespace
}  // namespace thaw::engine
