// SnapStart end to end (label kvm): a function's INIT is snapshotted once, and sandboxes are
// restored from the snapshot lazily: the working set recorded on the first restore and
// prefetched on later ones, the restore hooks making every clone unique, and every way a
// snapshot can be bad giving a clear error while this process (the engine) carries on.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "engine/sandbox.h"
#include "snapshot/manifest.h"
#include "snapshot/page_store_reader.h"
#include "snapshot/working_set.h"
#include "tests/kvm/engine/test_functions.h"

namespace thaw::engine {
namespace {

using Status = InvokeResult::Status;
namespace fs = std::filesystem;

fs::path snapshot_of(const std::string& function, Logs& logs) {
  fs::path dir = fs::path(testing::TempDir()) / ("snap-" + function);
  fs::remove_all(dir);
  SandboxOptions o = logs.options();
  o.initialization_type = "snap-start";
  auto s = Sandbox::cold_start(image(function), o);
  SnapshotInfo info = s->checkpoint(dir, image(function));
  EXPECT_GT(info.init_ms, 0);
  EXPECT_GT(info.pages.pages, 0u);
  EXPECT_FALSE(s->alive()) << "the snapshotted VM is discarded";
  return dir;
}

nlohmann::json invoke_json(Sandbox& s, const std::string& payload = "{}") {
  auto r = s.invoke(request(payload));
  EXPECT_EQ(r.status, Status::kSuccess) << r.error_type << " " << r.body;
  return nlohmann::json::parse(r.body, nullptr, false);
}

TEST(SnapStart, HelloRestoresRecordThenPrefetchAndReportsRestoreDuration) {
  Logs logs;
  fs::path snap = snapshot_of("python-hello", logs);
  EXPECT_NE(logs.find("INIT_REPORT Init Duration: "), "") << "the snapshot step logs INIT_REPORT";
  EXPECT_TRUE(fs::exists(snap / "manifest.json"));
  EXPECT_FALSE(snapshot::load_working_set(snap).has_value());

  {
    auto s = Sandbox::restore(snap, logs.options());
    // A first request that is refused as too large is not the first invocation: the next one
    // still reports the restore and ends the working set's recording.
    auto too_large = s->invoke(request(std::string(6 * 1024 * 1024 + 1, 'x')));
    EXPECT_EQ(too_large.error_type, "RequestEntityTooLargeException");
    EXPECT_TRUE(s->alive());
    auto body = invoke_json(*s, R"({"n": 1})");
    EXPECT_EQ(body["event"]["n"], 1);
    EXPECT_EQ(body["function_name"], "python-hello");
    std::string report = logs.last_report();
    EXPECT_NE(report.find("\tRestore Duration: "), std::string::npos) << report;
    EXPECT_NE(report.find("\tBilled Restore Duration: "), std::string::npos) << report;
    EXPECT_EQ(report.find("Init Duration"), std::string::npos) << report;
    auto stats = s->memory_stats();
    ASSERT_TRUE(stats.has_value());
    EXPECT_GT(stats->chunks_on_demand, 0u);
    EXPECT_EQ(stats->chunks_prefetched, 0u);
    // The working set was saved when the first invocation returned; the sandbox stays warm.
    auto ws = snapshot::load_working_set(snap);
    ASSERT_TRUE(ws.has_value());
    EXPECT_GT(ws->size(), 0u);
    EXPECT_EQ(invoke_json(*s, R"({"n": 2})")["event"]["n"], 2);
    EXPECT_EQ(logs.last_report().find("Restore Duration"), std::string::npos) << "warm: no restore fields";
  }
  {
    auto s = Sandbox::restore(snap, logs.options());
    EXPECT_EQ(invoke_json(*s, R"({"n": 3})")["event"]["n"], 3);
    auto stats = s->memory_stats();
    ASSERT_TRUE(stats.has_value());
    EXPECT_GT(stats->chunks_prefetched, 0u) << "the second restore prefetches the working set";
    EXPECT_LT(stats->chunks_on_demand, stats->chunks_prefetched);
  }
  fs::remove_all(snap);
}

TEST(SnapStart, HooksCloseAndReopenAConnectionInOrder) {
  Logs logs;
  fs::path snap = snapshot_of("python-snapstart-hooks", logs);
  auto s = Sandbox::restore(snap, logs.options());
  auto body = invoke_json(*s, R"({"message": "still there?"})");
  EXPECT_EQ(body["events"], nlohmann::json::parse(R"(["init:connected", "before_snapshot:closed:db",
      "before_snapshot:last", "after_restore:reconnected", "after_restore:second!"])"));
  EXPECT_EQ(body["echo"], "still there?");
  EXPECT_EQ(body["connected"], true);
  fs::remove_all(snap);
}

// What a clone draws right after its restore, by layer.
struct CloneDraws {
  std::set<std::string> kernel, urandom, uuids, randoms;
};

void restore_clones(const fs::path& snap, Logs& logs, int n, bool vmgenid, bool entropy, bool invoke, CloneDraws& d) {
  for (int i = 0; i < n; ++i) {
    SandboxOptions o = logs.options();
    o.hooks.skip_vm_generation_id = !vmgenid;
    o.hooks.skip_entropy = !entropy;
    auto s = Sandbox::restore(snap, o);
    EXPECT_EQ(s->kernel_random_after_restore().size(), 32u);
    EXPECT_EQ(s->kernel_reseeded_by_vmgenid(), vmgenid) << "the guest kernel's own reseed on the VMGenID change";
    // The probe sees no reseed of the kernel's own schedule while it comes before the guest's
    // uptime at the checkpoint has passed again (guest/agent/host_link.cpp).
    EXPECT_LT(s->guest_ms_checkpoint_to_probe(), s->guest_uptime_ms_at_checkpoint());
    d.kernel.insert(s->kernel_random_after_restore());
    if (!invoke) continue;
    auto body = invoke_json(*s);
    d.urandom.insert(body["urandom"].get<std::string>());
    d.uuids.insert(body["uuid4"].get<std::string>());
    d.randoms.insert(body["random"].dump());
  }
}

// Clones of one snapshot differ in their kernels' CRNG output (sampled by the agent right after
// the restore, once the kernel's VMGenID reseed is in), /dev/urandom, uuid4 and Python's
// `random`, and each layer alone is enough: the kernel's VMGenID reseed without the host's
// entropy, the host's entropy without VMGenID. With both switched off (debug options) the
// kernel-level values repeat exactly: the checkpoint is taken at an uptime over twice the
// restore budget, so the kernel's own reseed schedule cannot fire before the probe.
TEST(SnapStart, ClonesAreUniqueAndEachLayerAloneMakesThemSo) {
  Logs logs;
  fs::path dir = fs::path(testing::TempDir()) / "snap-uniqueness";
  fs::remove_all(dir);
  SandboxOptions o = logs.options();
  o.initialization_type = "snap-start";
  o.checkpoint_min_uptime = 2 * o.restore_budget;
  Sandbox::cold_start(image("python-uniqueness"), o)->checkpoint(dir, image("python-uniqueness"));

  auto all_differ = [](const CloneDraws& d, const char* layers) {
    EXPECT_EQ(d.kernel.size(), 3u) << layers;
    EXPECT_EQ(d.urandom.size(), 3u) << layers;
    EXPECT_EQ(d.uuids.size(), 3u) << layers;
    EXPECT_EQ(d.randoms.size(), 3u) << layers;
  };
  CloneDraws both, vmgenid_only;
  restore_clones(dir, logs, 3, true, true, true, both);
  all_differ(both, "VMGenID and the host's entropy");
  restore_clones(dir, logs, 3, true, false, true, vmgenid_only);
  all_differ(vmgenid_only, "VMGenID alone: the kernel reseeds itself");

  CloneDraws entropy_only;
  restore_clones(dir, logs, 2, false, true, false, entropy_only);
  EXPECT_EQ(entropy_only.kernel.size(), 2u) << "the host's entropy alone";

  CloneDraws neither;
  restore_clones(dir, logs, 2, false, false, false, neither);
  EXPECT_EQ(neither.kernel.size(), 1u) << "with neither layer the clones' kernels repeat one CRNG state";
  for (const auto& k : neither.kernel) EXPECT_EQ(both.kernel.count(k) + vmgenid_only.kernel.count(k), 0u);
  fs::remove_all(dir);
}

TEST(SnapStart, FailingAfterRestoreHookDiscardsTheSandboxAndTheEngineGoesOn) {
  Logs logs;
  fs::path snap = snapshot_of("python-restore-hook-error", logs);
  try {
    auto s = Sandbox::restore(snap, logs.options());
    FAIL() << "a failing after-restore hook was ignored";
  } catch (const SandboxError& e) {
    EXPECT_EQ(e.error_type(), "Runtime.AfterRestoreError") << e.what() << " " << e.body();
    EXPECT_NE(e.body().find("credentials service unreachable"), std::string::npos) << e.body();
  }
  // Same snapshot, next restore: the same clean error, nothing left over from the first.
  EXPECT_THROW(Sandbox::restore(snap, logs.options()), SandboxError);
  fs::remove_all(snap);
}

void flip_byte(const fs::path& file, uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f) << file;
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x5a));
}

fs::path copy_of(const fs::path& snap, const std::string& name) {
  fs::path dir = snap.parent_path() / (snap.filename().string() + "-" + name);
  fs::remove_all(dir);
  fs::copy(snap, dir, fs::copy_options::recursive);
  return dir;
}

TEST(SnapStart, BadSnapshotsGiveClearErrorsAndTheEngineKeepsServing) {
  Logs logs;
  fs::path snap = snapshot_of("python-hello", logs);
  {
    auto s = Sandbox::restore(snap, logs.options());  // records the working set
    invoke_json(*s);
  }
  auto expect_error = [&](const fs::path& dir, const std::string& needle) {
    try {
      auto s = Sandbox::restore(dir, logs.options());
      auto r = s->invoke(request("{}"));
      FAIL() << dir << ": restored and invoked (" << r.body << ")";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << dir << ": " << e.what();
    }
  };

  fs::path truncated = copy_of(snap, "truncated-state");
  fs::resize_file(truncated / "machine.state", fs::file_size(truncated / "machine.state") / 2);
  expect_error(truncated, "machine.state");

  // A state blob of another format version: its header's major version (after the 8-byte magic),
  // with the manifest re-signed so that only the version is wrong.
  fs::path version = copy_of(snap, "other-version");
  {
    std::fstream f(version / "machine.state", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    uint16_t major = 99;
    f.write(reinterpret_cast<const char*>(&major), 2);
  }
  {
    auto m = snapshot::read_manifest(version);
    m.files["machine.state"] = snapshot::describe_file(version / "machine.state");
    snapshot::write_manifest(version, m);
  }
  expect_error(version, "version");

  fs::path flipped_index = copy_of(snap, "flipped-index");
  flip_byte(flipped_index / "pages.idx", 100);
  expect_error(flipped_index, "pages.idx");

  // The first chunks of the working set corrupted inside their pack: found by their checksums
  // when the restore loads them, after the VM has started. These are the first the resumed guest
  // touched when the working set was recorded, so every restore touches them again; a chunk from
  // later in the list may be one that only a background task of the guest happened to touch.
  fs::path bad_chunk = copy_of(snap, "bad-chunk");
  {
    auto reader = snapshot::PageStoreReader::open(bad_chunk);
    auto ws = snapshot::load_working_set(bad_chunk);
    ASSERT_TRUE(ws && ws->size() > 10);
    std::set<std::pair<uint32_t, uint64_t>> flipped;  // chunks deduplicated into one object: flip it once
    for (size_t i = 0; i < 8; ++i) {
      uint64_t chunk = (*ws)[i];
      auto extent = reader->chunk_extent(chunk);
      ASSERT_TRUE(extent.has_value());
      const auto& rec = reader->chunk_record(chunk);
      uint64_t at = extent->offset + extent->length / 2;
      if (!flipped.insert({rec.pack, at}).second) continue;
      flip_byte(bad_chunk / "store" / "packs" / reader->manifest().packs[rec.pack].name, at);
    }
  }
  expect_error(bad_chunk, "checksum mismatch");

  // After all that, the intact snapshot restores and serves.
  auto s = Sandbox::restore(snap, logs.options());
  EXPECT_EQ(invoke_json(*s, R"({"n": 9})")["event"]["n"], 9);
  s.reset();
  for (const auto& d : {truncated, version, flipped_index, bad_chunk, snap}) fs::remove_all(d);
}

}  // namespace
}  // namespace thaw::engine
