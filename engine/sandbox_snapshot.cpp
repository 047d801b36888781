// SnapStart for a sandbox: the checkpoint of a cold-started one, and restoring sandboxes from
// the snapshot it wrote.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "base/error.h"
#include "engine/sandbox.h"
#include "engine/sandbox_internal.h"
#include "engine/vmm/machine_state.h"
#include "engine/vmm/vm.h"
#include "memory/private_writes.h"
#include "snapshot/page_store_reader.h"
#include "snapshot/page_store_writer.h"
#include "snapshot/state_blob.h"
#include "snapshot/working_set.h"

namespace thaw::engine {
using detail::Clock;
using detail::ms_since;
using detail::str;

namespace {

constexpr const char* kMachineBlob = "machine";
constexpr const char* kSnapshotKind = "thaw-function-snapshot";

// The chunks holding the console's rings: the VMM's own device thread reads them as soon as
// the VM runs, so they are checked before it does (see resume_from).
std::vector<uint64_t> ring_chunks(const vmm::MachineState& state, const snapshot::PageStoreReader& pages) {
  std::vector<uint64_t> chunks;
  auto add = [&](uint64_t gpa, uint64_t len) {
    for (const auto& r : pages.regions()) {
      uint64_t end = r.guest_addr + r.page_count * pages.page_size();
      for (uint64_t a = gpa & ~uint64_t{pages.page_size() - 1}; a < gpa + len; a += pages.page_size())
        if (a >= r.guest_addr && a < end)
          chunks.push_back((r.first_page + (a - r.guest_addr) / pages.page_size()) / pages.pages_per_chunk());
    }
  };
  for (auto [gpa, len] : vmm::Vm::memory_devices_read_at_resume(state)) add(gpa, len);
  std::sort(chunks.begin(), chunks.end());
  chunks.erase(std::unique(chunks.begin(), chunks.end()), chunks.end());
  return chunks;
}

}  // namespace

SnapshotInfo Sandbox::checkpoint(const std::string& snapshot_dir, const std::string& image_dir,
                                 const std::string& chunk_store) {
  if (!alive_ || !at_checkpoint_)
    throw Error("checkpoint: the sandbox is not at a SnapStart checkpoint (cold-start it with initialization_type "
                "\"snap-start\")");
  SnapshotInfo info;
  info.init_ms = init_ms_;
  auto t0 = Clock::now();
  send(channel::BeforeCheckpoint{.min_uptime_ms = options_.checkpoint_min_uptime.count()});
  auto ack = wait_message(t0 + options_.boot_allowance + options_.checkpoint_min_uptime);
  if (!ack || !std::holds_alternative<channel::BeforeCheckpointAck>(*ack)) {
    std::string why = ack ? "the agent answered the checkpoint with " + std::string(channel::name_of(*ack))
                          : "the agent did not acknowledge the checkpoint";
    discard(why);
    throw SandboxError("Sandbox.Error", why);
  }
  vm_->pause();
  info.pause_ms = ms_since(t0);

  auto t1 = Clock::now();
  std::filesystem::create_directories(snapshot_dir);
  vmm::MachineState state = vm_->save_state();
  auto bytes = vmm::encode_machine_state(state);
  snapshot::write_state_blob(snapshot_dir, kMachineBlob, bytes);
  std::vector<snapshot::GuestRegion> regions;
  for (const auto& r : vm_->memory().regions()) regions.push_back({r.guest_addr, r.bytes()});
  snapshot::WriteOptions wo;
  wo.extra_files = {snapshot::state_blob_file_name(kMachineBlob)};
  if (!chunk_store.empty()) wo.store_dir = chunk_store;
  wo.metadata = {{"kind", kSnapshotKind},
                 {"image", image_.to_json()},
                 {"image_dir", std::filesystem::absolute(image_dir).string()},
                 {"vcpus", state.vcpus.size()},
                 {"memory_mib", state.mem_bytes >> 20},
                 {"machine_state_version", vmm::kMachineStateVersion},
                 {"init_ms", init_ms_}};
  info.pages = snapshot::write_page_store(snapshot_dir, regions, wo);
  info.save_ms = ms_since(t1);
  discard("snapshot taken");
  spdlog::info("snapshot {}: init {:.1f} ms, pause {:.1f} ms, save {:.1f} ms ({} pages, {} zero, {:.1f} MiB stored)",
               snapshot_dir, info.init_ms, info.pause_ms, info.save_ms, info.pages.pages, info.pages.zero_pages,
               double(info.pages.stored_bytes) / (1 << 20));
  return info;
}

std::unique_ptr<Sandbox> Sandbox::restore(const std::string& snapshot_dir, SandboxOptions options) {
  PhaseClock phases;
  auto pages = snapshot::PageStoreReader::open(snapshot_dir);
  const auto& meta = pages->manifest().metadata;
  if (str(meta, "kind") != kSnapshotKind)
    throw Error(snapshot_dir + ": not a function snapshot (take one with `thaw snapshot IMAGE --out DIR`)");
  auto image = image::ImageConfig::from_json(meta.at("image"));
  std::unique_ptr<Sandbox> s(new Sandbox(std::move(image), std::move(options)));
  s->snapshot_dir_ = snapshot_dir;
  s->pages_ = std::move(pages);
  s->init_ms_ = meta.value("init_ms", 0.0);
  s->resume_from(snapshot_dir, phases);
  return s;
}

void Sandbox::resume_from(const std::string& snapshot_dir, PhaseClock& phases) {
  const auto t0 = phases.last_mark();
  vmm::MachineState state = vmm::decode_machine_state(snapshot::read_state_blob(snapshot_dir, kMachineBlob));
  // The device thread would take a bad ring page as a fatal signal: check those few chunks now.
  for (uint64_t chunk : ring_chunks(state, *pages_)) {
    std::vector<std::byte> scratch(pages_->chunk_bytes(chunk));
    pages_->read_chunk(chunk, scratch);
  }
  std::optional<std::vector<uint64_t>> working_set = snapshot::load_working_set(snapshot_dir);
  recording_working_set_ = options_.record_working_set && !working_set;
  if (!options_.prefetch) working_set.reset();
  phases.mark("snapshot_open");

  memory_.emplace(memory::GuestMemory::create(state.mem_bytes));
  std::vector<memory::RegionBinding> bindings;
  for (const auto& r : pages_->regions()) bindings.push_back({r.guest_addr, r.first_page, r.page_count});
  memory::LazyLoaderOptions lo;
  if (options_.shared_image) {
    shared_image_.emplace(
        memory::SharedImage::attach(*options_.shared_image, pages_->page_count(), pages_->pages_per_chunk()));
    lo.shared_image = &*shared_image_;
  }
  std::optional<snapshot::GuestRanges> written;
  if (shared_image_) {
    try {
      written = snapshot::load_written_ranges(snapshot_dir);
      recording_written_pages_ = !written;
    } catch (const Error& e) {  // only a speed-up: its pages copy on write as before
      spdlog::warn("ignoring the written pages of {}: {}", snapshot_dir, e.what());
    }
    if (!options_.copy_written_pages) written.reset();
  }
  lo.record_working_set = recording_working_set_;
  lo.failed_pages = memory::LazyLoaderOptions::FailedPages::kZeroFill;
  lo.on_failure = [this](const memory::LoadFailure& f) {
    // Called on the loader's thread before the page is released: stop the vCPUs for good first.
    std::lock_guard lock(mu_);
    channel_error_ = "guest memory could not be restored: " + f.cause;
    if (vm_) vm_->request_stop(vmm::ExitReason::kInternalError, *channel_error_);
    cv_.notify_all();
  };
  loader_ = std::make_unique<memory::LazyLoader>(*memory_, *pages_, bindings, std::move(lo));
  if (working_set && !working_set->empty()) loader_->start_prefetch(*working_set, options_.background_load);
  phases.mark("memory_map");

  vmm::VmConfig vc;
  vc.console = console_sink();
  if (options_.network) vc.net = detail::guest_nic(*options_.network);
  auto vm = std::make_unique<vmm::Vm>(std::move(vc), *memory_, state, take_vm_shell());
  phases.mark("vm_create", vm->machine_created_at());
  phases.mark("state_restore");
  {
    std::lock_guard lock(mu_);
    vm_ = std::move(vm);
  }
  if (options_.working_set_before_resume && working_set && !working_set->empty()) {
    loader_->wait_prefetch_working_set();
    phases.mark("working_set");
    if (written && !written->empty()) {
      // Before the pre-fault: stage 2 then maps the copies, not the shared pages they replace.
      uint64_t bytes = memory::copy_before_write(*memory_, *written);
      spdlog::debug("restore: {} KiB the first clone wrote copied before resume", bytes >> 10);
      phases.mark("copy_written_pages");
    }
    if (options_.stage2_prefault && vm_->can_pre_fault()) {
      // Only a speed-up: a guest whose pages KVM would not map now faults them in as it runs.
      try {
        uint64_t bytes = vm_->pre_fault(loader_->guest_ranges(*working_set));
        spdlog::debug("restore: {} KiB of the working set pre-faulted into stage 2", bytes >> 10);
      } catch (const std::exception& e) {
        spdlog::warn("restore of {}: the working set was not pre-faulted into stage 2: {}", snapshot_dir, e.what());
      }
      phases.mark("stage2_prefault");
    }
  }
  vm_->channel().set_receiver([this](std::span<const uint8_t> b) { on_channel_bytes(b); });
  // The new generation id and its interrupt go in before the vCPUs run: the guest kernel's
  // reseed is the first thing it does once resumed.
  auto ctx = hooks::make_after_restore_context(options_.hooks);
  bool vmgenid = ctx.vm_generation_id.size() == vmm::kVmGenIdSize;
  if (vmgenid) {
    vmm::VmGenerationId id;
    std::copy(ctx.vm_generation_id.begin(), ctx.vm_generation_id.end(), id.begin());
    vm_->vmgenid().change(id);
  }
  vm_->start();
  alive_ = true;
  phases.mark("resume");

  send(channel::AfterRestore{
      .wall_clock_ns = ctx.wall_clock_ns,
      .sandbox_id = ctx.sandbox_id,
      .log_stream_name = ctx.log_stream_name,
      .vmgenid_changed = vmgenid,
      .entropy = std::string(reinterpret_cast<const char*>(ctx.entropy.data()), ctx.entropy.size())});
  auto m = wait_message(t0 + options_.restore_budget);
  auto* done = m ? std::get_if<channel::RestoreDone>(&*m) : nullptr;
  if (!done) fail_restore(m);
  auto hooks_end = Clock::now();
  restore_ms_ = std::chrono::duration<double, std::milli>(hooks_end - t0).count();
  // From AfterRestore to RestoreDone: the agent's own hooks, then the runtime's (timed by the
  // guest; its clock runs at the host's rate).
  double both = std::chrono::duration<double, std::milli>(hooks_end - phases.last_mark()).count();
  double runtime = std::clamp(done->hooks_ms, 0.0, both);
  phases.add("agent_hooks", both - runtime);
  phases.add("runtime_hooks", runtime);
  phases.restart_at(hooks_end);
  restore_phases_ = phases.take();
  freeze();  // frozen until its first invocation
  restore_hooks_ms_ = done->hooks_ms;
  kernel_random_ = done->kernel_random;
  kernel_reseeded_by_vmgenid_ = done->vmgenid_reseeded;
  checkpoint_uptime_ms_ = done->checkpoint_uptime_ms;
  probe_uptime_ms_ = done->probe_uptime_ms;
  if (vmgenid && !kernel_reseeded_by_vmgenid_)
    spdlog::warn("restore of {}: the guest kernel did not report a reseed on the VM Generation ID change (its "
                 "vmgenid driver is missing?); only the host's entropy tells this clone apart",
                 snapshot_dir);
  spdlog::debug("restored {} in {:.1f} ms: {} (guest: checkpoint at {:.0f} ms of uptime, probe {:.0f} ms later, "
                "VMGenID reseed {})",
                snapshot_dir, restore_ms_, format_phases(restore_phases_), checkpoint_uptime_ms_,
                guest_ms_checkpoint_to_probe(), kernel_reseeded_by_vmgenid_ ? "seen" : "not seen");
}

void Sandbox::fail_restore(const std::optional<channel::GuestMessage>& m) {
  std::string type = "Runtime.AfterRestoreError", why, body;
  if (auto* e = m ? std::get_if<channel::RestoreError>(&*m) : nullptr) {
    if (!e->error_type.empty()) type = e->error_type;
    why = "the runtime's after-restore hooks failed";
    body = e->body;
  } else if (m) {
    type = "Sandbox.Error";
    why = "unexpected " + std::string(channel::name_of(*m)) + " message during restore";
  } else if (channel_error_) {
    type = "Sandbox.Error";
    why = *channel_error_;
  } else if (vm_->exited()) {
    type = "Sandbox.Error";
    why = "the restored microVM ended during restore";
  } else {
    type = "Sandbox.Timedout";
    why = "restore and after-restore hooks did not finish within " + std::to_string(options_.restore_budget.count()) +
          " ms";
  }
  discard(why);
  throw SandboxError(type, why, body);
}

void Sandbox::finish_first_invocation() {
  if (!loader_) return;
  if (recording_working_set_) {
    recording_working_set_ = false;
    auto chunks = loader_->stop_recording();
    try {
      snapshot::save_working_set(snapshot_dir_, chunks);
      spdlog::info("working set of {}: {} chunks recorded for the next restores", snapshot_dir_, chunks.size());
    } catch (const std::exception& e) {
      spdlog::warn("could not save the working set of {}: {}", snapshot_dir_, e.what());
    }
  }
  auto st = loader_->stats();
  spdlog::debug("first invocation after restore: {} faults, {} chunks on demand, {} prefetched, {:.1f} MiB read",
                st.faults, st.chunks_on_demand, st.chunks_prefetched, double(st.bytes_read) / (1 << 20));
}

void Sandbox::save_written_pages() {
  if (!recording_written_pages_ || first_invoke_ || !alive_ || !memory_) return;
  recording_written_pages_ = false;
  try {
    auto ranges = memory::privately_written_ranges(*memory_);
    snapshot::save_written_ranges(snapshot_dir_, ranges);
    uint64_t bytes = 0;
    for (const auto& r : ranges) bytes += r.second;
    spdlog::info("written pages of {}: {} KiB in {} ranges recorded for the next clones", snapshot_dir_, bytes >> 10,
                 ranges.size());
  } catch (const std::exception& e) {
    spdlog::warn("could not record the written pages of {}: {}", snapshot_dir_, e.what());
  }
}

std::optional<memory::RestoreStats> Sandbox::memory_stats() const {
  if (!loader_) return std::nullopt;
  return loader_->stats();
}

}  // namespace thaw::engine
