// The engine <-> VMM process protocol: what one side encodes the other decodes to the same
// values, a missing field is an error (never a default), and foreign frames are refused.
#include "engine/vmm_protocol.h"

#include <gtest/gtest.h>

namespace thaw::engine::vmm_protocol {
namespace {

TEST(VmmProtocol, OptionsRequestsResultsAndSnapshotInfoRoundTrip) {
  SandboxOptions o;
  o.vcpus = 3;
  o.init_timeout = std::chrono::milliseconds(4321);
  o.function_version = "7";
  o.hooks.skip_entropy = true;
  o.freeze_between_invocations = false;
  auto back = decode_options(encode_options(o));
  EXPECT_EQ(back.vcpus, 3u);
  EXPECT_EQ(back.init_timeout.count(), 4321);
  EXPECT_EQ(back.function_version, "7");
  EXPECT_TRUE(back.hooks.skip_entropy);
  EXPECT_FALSE(back.freeze_between_invocations);
  EXPECT_FALSE(back.network);
  o.network = SandboxNic{.tap_fd = 17, .tx_limit = {1'000'000, 64'000}};
  back = decode_options(encode_options(o));
  ASSERT_TRUE(back.network);
  EXPECT_EQ(back.network->tap_fd, kTapFd) << "the VMM process has its TAP at fd 4, whatever the engine's was";
  EXPECT_EQ(back.network->tx_limit.bytes_per_second, 1'000'000u);
  EXPECT_EQ(back.network->tx_limit.burst_bytes, 64'000u);

  InvokeRequest req;
  req.request_id = "id-1";
  req.client_context = R"({"custom": 1})";
  req.tenant_id = "tenant-1";
  auto rq = decode_request(encode_request(req), "payload");
  EXPECT_EQ(rq.request_id, "id-1");
  EXPECT_EQ(rq.client_context, req.client_context);
  EXPECT_EQ(rq.tenant_id, "tenant-1");
  EXPECT_EQ(rq.payload, "payload");

  InvokeResult r;
  r.status = InvokeResult::Status::kTimeout;
  r.error_type = "Sandbox.Timedout";
  r.report.request_id = "id-1";
  r.report.duration_ms = 12.5;
  r.report.start.kind = StartInfo::Kind::kRestored;
  r.report.start.restore_ms = 99;
  r.report.start.phases = {{"vm_create", 1.5}, {"first_response", 7.25}};
  r.report.status = "timeout";
  auto rr = decode_result(encode_result(r), "body");
  EXPECT_EQ(rr.status, InvokeResult::Status::kTimeout);
  EXPECT_EQ(rr.body, "body");
  EXPECT_EQ(rr.report.start.kind, StartInfo::Kind::kRestored);
  EXPECT_DOUBLE_EQ(rr.report.start.restore_ms, 99);
  ASSERT_EQ(rr.report.start.phases.size(), 2u);
  EXPECT_EQ(rr.report.start.phases[1].name, "first_response");
  EXPECT_DOUBLE_EQ(rr.report.start.phases[1].ms, 7.25);
  EXPECT_EQ(rr.report.status, "timeout");

  SnapshotInfo info;
  info.init_ms = 5;
  info.pages.stored_bytes = 1 << 20;
  EXPECT_EQ(decode_snapshot_info(encode_snapshot_info(info)).pages.stored_bytes, 1u << 20);
}

TEST(VmmProtocol, AMissingOrMistypedFieldIsAProtocolError) {
  auto j = encode_options(SandboxOptions{});
  j.erase("region");
  EXPECT_THROW(decode_options(j), channel::ProtocolError);
  auto r = encode_result(InvokeResult{});
  r["status"] = "fine";
  EXPECT_THROW(decode_result(r, ""), channel::ProtocolError);
  r["status"] = 42;
  EXPECT_THROW(decode_result(r, ""), channel::ProtocolError);
  r = encode_result(InvokeResult{});
  r["phases"] = nlohmann::json::array({{{"name", "resume"}}});
  EXPECT_THROW(decode_result(r, ""), channel::ProtocolError) << "a phase without its ms";
  EXPECT_THROW(started_received_at(message(Op::kStarted)), channel::ProtocolError);
  EXPECT_EQ(started_received_at(message(Op::kStarted, {{"received_ns", 5}})).time_since_epoch().count(), 5);
}

TEST(VmmProtocol, EachDecoderTakesOnlyItsOwnProtocolsFrames) {
  auto d = decoder();
  d.feed(channel::encode(message(Op::kLog, {}, "a log line")));  // meta `{}`: still an object
  auto log = d.next();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->data, "a log line");
  d.feed(channel::encode(message(Op::kStarted)));
  auto m = d.next();
  ASSERT_TRUE(m);
  EXPECT_EQ(op_of(*m), Op::kStarted);
  channel::Message guest;
  guest.type = channel::MessageType::kInvoke;
  d.feed(channel::encode(guest));
  EXPECT_THROW(d.next(), channel::ProtocolError);
  channel::Decoder guest_decoder;
  guest_decoder.feed(channel::encode(message(Op::kInvoke)));
  EXPECT_THROW(guest_decoder.next(), channel::ProtocolError);
}

}  // namespace
}  // namespace thaw::engine::vmm_protocol
