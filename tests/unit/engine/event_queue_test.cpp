// The durable event queue: what was pushed is there after reopening (a crash), a leased event is
// handed to no other taker, retries wait for their due time, done() removes the file, and a torn
// or foreign file is set aside rather than stopping the queue.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "base/error.h"
#include "engine/event_queue.h"
#include "engine/function_logs.h"

namespace thaw::engine {
namespace {
namespace fs = std::filesystem;

class EventQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("thaw-events-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static QueuedEvent event(const std::string& id, int64_t due = 0) {
    return {.id = id, .function = "f", .qualifier = "", .payload = R"({"n": 1})", .accepted_ms = due, .due_ms = due};
  }
  fs::path dir_;
};

TEST_F(EventQueueTest, WhatWasPushedIsThereAfterReopeningLeasedOrNot) {
  {
    EventQueue q(dir_);
    q.push(event("a", 1));
    q.push(event("b", 2));
    auto taken = q.take();  // leased when the "crash" comes: delivered again after it
    ASSERT_TRUE(taken);
    EXPECT_EQ(taken->id, "a");
    EXPECT_THROW(q.push(event("b", 3)), Error);  // one event per request id
  }
  EventQueue again(dir_);
  EXPECT_EQ(again.size(), 2u);
  EXPECT_EQ(again.oldest_accepted_ms(), 1);
  auto a = again.take();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->id, "a");
  EXPECT_EQ(a->payload, R"({"n": 1})");
  again.done("a");
  EXPECT_FALSE(fs::exists(dir_ / "a.json"));
  EXPECT_EQ(EventQueue(dir_).size(), 1u);
}

TEST_F(EventQueueTest, EventsAreTakenByDueTimeThenByAgeAndTheOldestIsTrackedThroughRetries) {
  EventQueue q(dir_);
  auto late = event("late", 5);
  late.accepted_ms = 1;  // the oldest, but due after the others
  q.push(late);
  q.push(event("second", 3));
  auto first = event("first", 3);
  first.accepted_ms = 2;
  q.push(first);
  EXPECT_EQ(q.take()->id, "first");
  EXPECT_EQ(q.take()->id, "second");
  auto l = q.take();
  ASSERT_TRUE(l);
  EXPECT_EQ(l->id, "late");
  EXPECT_EQ(q.oldest_accepted_ms(), 1);  // leased events still count for the age
  l->due_ms = 0;
  q.retry(*l);
  EXPECT_EQ(q.oldest_accepted_ms(), 1);
  EXPECT_EQ(q.take()->id, "late");  // due again, once
  q.done("late");
  EXPECT_EQ(q.oldest_accepted_ms(), 2);
  q.done("first");
  q.done("second");
  EXPECT_EQ(q.oldest_accepted_ms(), std::nullopt);
  EXPECT_EQ(q.size(), 0u);
}

TEST_F(EventQueueTest, ALeasedEventGoesToOneTakerAndARetryWaitsForItsDueTime) {
  EventQueue q(dir_);
  q.push(event("a"));
  auto a = q.take();
  ASSERT_TRUE(a);
  a->function_errors = 1;
  a->deliveries = 1;
  a->due_ms = now_ms() + 200;
  q.retry(*a);
  auto again = q.take();  // blocks until it is due
  ASSERT_TRUE(again);
  EXPECT_GE(now_ms(), a->due_ms);
  EXPECT_EQ(again->function_errors, 1u);
  std::thread stopper([&] { q.stop(); });
  EXPECT_FALSE(q.take());  // leased already; stop() ends the wait
  stopper.join();
}

TEST_F(EventQueueTest, ATornOrForeignFileIsSetAside) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "torn.json") << R"({"id": "torn", "function": )";
  std::ofstream(dir_ / "other.json") << to_json(event("not-other"));
  EventQueue q(dir_);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_TRUE(fs::exists(dir_ / "torn.json.corrupt"));
  EXPECT_TRUE(fs::exists(dir_ / "other.json.corrupt"));
  EXPECT_THROW(q.push(event("../escape")), Error);
}

}  // namespace
}  // namespace thaw::engine
