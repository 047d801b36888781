#include "channel/messages.h"

#include <gtest/gtest.h>

#include <string>

namespace thaw::channel {
namespace {

// Through the wire and back: the frame bytes, the frame decoder, the typed decoder.
template <class T, class Variant>
T through_wire(T m, Variant (*decode)(Message)) {
  auto frame = to_frame(std::move(m));
  frame.sequence = 3;
  Decoder d;
  d.feed(encode(frame));
  auto back = d.next();
  EXPECT_TRUE(back);
  auto typed = decode(std::move(*back));
  EXPECT_TRUE(std::holds_alternative<T>(typed)) << name_of(typed);
  return std::get<T>(std::move(typed));
}

TEST(ChannelMessages, HostMessagesRoundTrip) {
  Config c{.function_name = "f",
           .function_version = "3",
           .handler = "app.handler",
           .memory_mb = 1769,
           .region = "eu-west-1",
           .initialization_type = "snap-start",
           .log_group_name = "/aws/lambda/f",
           .log_stream_name = "2026/12/02/[3]abc",
           .sandbox_id = "sb",
           .wall_clock_ns = 1'800'000'000'000'000'000,
           .environment = {{"A", "1"}, {"B", "two words"}},
           .net_address = "172.16.0.2",
           .net_prefix = 30,
           .net_gateway = "172.16.0.1"};
  auto c2 = through_wire(c, decode_host_message);
  EXPECT_EQ(c2.net_address, "172.16.0.2");
  EXPECT_EQ(c2.net_prefix, 30u);
  EXPECT_EQ(c2.net_gateway, "172.16.0.1");
  EXPECT_EQ(c2.function_version, "3");
  EXPECT_EQ(c2.memory_mb, 1769u);
  EXPECT_EQ(c2.wall_clock_ns, c.wall_clock_ns);
  EXPECT_EQ(c2.environment, c.environment);

  std::string payload(300, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i);
  auto inv = through_wire(Invoke{.request_id = "r", .time_left_ms = 3000, .payload = payload}, decode_host_message);
  EXPECT_EQ(inv.request_id, "r");
  EXPECT_EQ(inv.time_left_ms, 3000);
  EXPECT_EQ(inv.payload, payload);

  auto ar = through_wire(AfterRestore{.vmgenid_changed = true, .entropy = "\x01\x02"}, decode_host_message);
  EXPECT_TRUE(ar.vmgenid_changed);
  EXPECT_EQ(ar.entropy, "\x01\x02");
  through_wire(Shutdown{}, decode_host_message);
  EXPECT_EQ(through_wire(BeforeCheckpoint{.min_uptime_ms = 20000}, decode_host_message).min_uptime_ms, 20000);
}

TEST(ChannelMessages, GuestMessagesRoundTrip) {
  auto done = through_wire(RestoreDone{.hooks_ms = 1.5, .kernel_random = "ab", .vmgenid_reseeded = true,
                                       .checkpoint_uptime_ms = 20001, .probe_uptime_ms = 20500},
                           decode_guest_message);
  EXPECT_EQ(done.kernel_random, "ab");
  EXPECT_TRUE(done.vmgenid_reseeded);
  EXPECT_DOUBLE_EQ(done.probe_uptime_ms, 20500);
  auto fe = through_wire(FunctionError{"r", "Unhandled", uint64_t{1} << 33, "{}"}, decode_guest_message);
  EXPECT_EQ(fe.max_memory_bytes, uint64_t{1} << 33);
  EXPECT_EQ(fe.body, "{}");
  auto log = through_wire(Log{true, "a line"}, decode_guest_message);
  EXPECT_TRUE(log.is_stderr);
  EXPECT_EQ(log.line, "a line");
  through_wire(AgentReady{}, decode_guest_message);
  EXPECT_EQ(through_wire(RuntimeExit{"exit status 3"}, decode_guest_message).status, "exit status 3");
}

TEST(ChannelMessages, MissingFieldIsADecodeErrorThatNamesIt) {
  auto frame = to_frame(Response{"r", 10, "ok"});
  frame.meta.erase("max_memory");
  try {
    decode_guest_message(frame);
    FAIL() << "decoded a response without max_memory";
  } catch (const ProtocolError& e) {
    EXPECT_NE(std::string(e.what()).find("response message: field \"max_memory\" is missing"), std::string::npos)
        << e.what();
  }
}

TEST(ChannelMessages, WrongTypesAndRangesAreDecodeErrors) {
  auto with = [](const char* key, nlohmann::json value) {
    auto frame = to_frame(Config{});
    frame.meta[key] = std::move(value);
    return frame;
  };
  EXPECT_THROW(decode_host_message(with("memory_mb", "128")), ProtocolError);
  EXPECT_THROW(decode_host_message(with("memory_mb", -1)), ProtocolError);
  EXPECT_THROW(decode_host_message(with("memory_mb", uint64_t{1} << 40)), ProtocolError);
  EXPECT_THROW(decode_host_message(with("memory_mb", 1.5)), ProtocolError);
  EXPECT_THROW(decode_host_message(with("environment", nlohmann::json{{"A", 1}})), ProtocolError);
  EXPECT_THROW(decode_host_message(with("handler", nullptr)), ProtocolError);
  EXPECT_NO_THROW(decode_host_message(with("a_field_from_a_newer_host", true)));
}

TEST(ChannelMessages, EachSideRefusesWhatOnlyItsOwnEndSends) {
  EXPECT_THROW(decode_host_message(to_frame(InitDone{})), ProtocolError);
  EXPECT_THROW(decode_guest_message(to_frame(Invoke{})), ProtocolError);
  Message unknown;
  unknown.type = static_cast<MessageType>(99);
  EXPECT_THROW(decode_guest_message(unknown), ProtocolError);
}

}  // namespace
}  // namespace thaw::channel
