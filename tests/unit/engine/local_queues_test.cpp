// Local queues, the destinations of asynchronous invocations: messages come back in the order
// sent, a receive without keep takes them (another queue object on the same directory, as
// `thaw queue receive` beside a running engine, sees them gone), and ARNs map to queue names.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "base/error.h"
#include "engine/local_queues.h"

namespace thaw::engine {
namespace {
namespace fs = std::filesystem;

class LocalQueuesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("thaw-queues-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(LocalQueuesTest, MessagesComeBackInTheOrderSentAndAReceiveTakesThem) {
  LocalQueues sender(dir_);
  for (int i = 0; i < 12; ++i) sender.send("failed", "message " + std::to_string(i));
  sender.send("other", "x");

  LocalQueues receiver(dir_);  // a second process's view of the same directory
  auto list = receiver.list();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0], (std::pair<std::string, size_t>{"failed", 12}));
  EXPECT_EQ(list[1], (std::pair<std::string, size_t>{"other", 1}));

  auto peeked = receiver.receive("failed", 3, /*keep=*/true);
  ASSERT_EQ(peeked.size(), 3u);
  EXPECT_EQ(peeked[0].body, "message 0");
  EXPECT_GT(peeked[0].sent_ms, 0);
  EXPECT_EQ(receiver.receive("failed", 100, true).size(), 12u);

  auto first = receiver.receive("failed", 10, /*keep=*/false);
  ASSERT_EQ(first.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(first[i].body, "message " + std::to_string(i));
  auto rest = sender.receive("failed", 10, false);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].body, "message 10");
  EXPECT_EQ(rest[1].body, "message 11");
  EXPECT_TRUE(receiver.receive("failed", 10, false).empty());
  EXPECT_TRUE(receiver.receive("never-sent", 10, false).empty());
}

TEST_F(LocalQueuesTest, ArnsNameQueuesAndBadNamesAreRefused) {
  EXPECT_EQ(queue_name_of_arn("arn:aws:sqs:us-east-1:123456789012:failed-events"), "failed-events");
  EXPECT_EQ(queue_name_of_arn("arn:thaw:queue:local:000000000000:done_1"), "done_1");
  EXPECT_FALSE(queue_name_of_arn("arn:aws:lambda:us-east-1:123456789012:function:f"));
  EXPECT_FALSE(queue_name_of_arn("arn:aws:sqs:us-east-1"));
  EXPECT_FALSE(queue_name_of_arn("arn:aws:sqs:us-east-1:1:../escape"));
  EXPECT_THROW(check_queue_name(""), Error);
  EXPECT_THROW(check_queue_name(std::string(81, 'a')), Error);
  EXPECT_THROW(LocalQueues(dir_).send("a/b", "x"), Error);
}

}  // namespace
}  // namespace thaw::engine
