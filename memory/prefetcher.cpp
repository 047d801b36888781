#include "memory/prefetcher.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/error.h"
#include "base/log.h"
#include "memory/shared_image.h"

namespace thaw::memory {

using Clock = LoaderCore::Clock;

uint64_t BatchLoader::load(std::span<const uint64_t> chunks, bool* failed) {
  const size_t batch = core_.options.prefetch_batch_chunks;
  uint64_t loaded = 0;
  for (size_t i = 0; i < chunks.size() && !core_.stopping; i += batch)
    loaded += load_batch(chunks.subspan(i, std::min(batch, chunks.size() - i)), failed);
  return loaded;
}

uint64_t BatchLoader::load_batch(std::span<const uint64_t> chunks, bool* failed) {
  slots_.clear();
  claims_.clear();
  for (uint64_t c : chunks) {
    auto claim = core_.claims.try_claim(c);
    if (!claim) continue;
    Slot s;
    s.claim = claims_.size();
    s.chunk = c;
    claims_.push_back(std::move(*claim));
    SharedImage* image = core_.installer.image();
    s.in_image = image && image->filled(c);
    try {
      if (!s.in_image) s.extent = core_.source.chunk_extent(c);
    } catch (const std::exception&) {
      s.result = -EIO;
    }
    slots_.push_back(s);
  }
  if (slots_.empty()) return 0;
  std::sort(slots_.begin(), slots_.end(), [](auto& a, auto& b) { return a.chunk < b.chunk; });
  read_and_decode();
  return install_and_wake(failed);
}

void BatchLoader::read_and_decode() {
  size_t total = 0;
  for (auto& s : slots_) {
    s.offset = total;
    total += core_.source.chunk_bytes(s.chunk);
  }
  decoded_.resize(std::max(decoded_.size(), total));
  if (stored_.size() < slots_.size()) stored_.resize(slots_.size());
  for (size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].extent && slots_[i].result == 0) {
      stored_[i].resize(slots_[i].extent->length);
      ring_.queue(slots_[i].extent->fd, slots_[i].extent->offset, stored_[i], i);
    }
  auto t_read = Clock::now();
  ring_.drain([&](uint64_t tag, int res) { slots_[tag].result = res; });
  auto t_decode = Clock::now();
  core_.counters.prefetch_read_ns += (t_decode - t_read).count();
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    s.ok = s.result >= 0;
    if (!s.ok || !s.extent) continue;  // no extent: in the image already, or all zeros
    s.ok = static_cast<uint32_t>(s.result) == s.extent->length;
    if (!s.ok) continue;
    core_.counters.bytes_read += s.extent->length;
    try {
      std::span<std::byte> out(decoded_.data() + s.offset, core_.source.chunk_bytes(s.chunk));
      core_.source.decode_chunk(s.chunk, stored_[i], out);
      if (auto* image = core_.installer.image()) image->fill(s.chunk, out, core_.source);
    } catch (const std::exception& e) {
      spdlog::warn("prefetch: chunk {}: {} (left to the fault handler)", s.chunk, e.what());
      s.ok = false;
    }
  }
  core_.counters.prefetch_decode_ns += (Clock::now() - t_decode).count();
}

uint64_t BatchLoader::install_and_wake(bool* failed) {
  auto t_install = Clock::now();
  uint64_t loaded = 0;
  for (size_t i = 0; i < slots_.size();) {
    size_t j = i + 1;
    if (slots_[i].ok)
      while (j < slots_.size() && slots_[j].ok && slots_[j].chunk == slots_[j - 1].chunk + 1) ++j;
    Installed r = Installed::interrupted;
    if (slots_[i].ok) {
      PageData data = core_.installer.image() ? PageData::image() : PageData::of(decoded_.data() + slots_[i].offset);
      r = core_.installer.install_range(core_.chunk_first(slots_[i].chunk), core_.chunk_end(slots_[j - 1].chunk), data,
                                        {}, true);
    }
    else if (failed)
      *failed = true;
    // Idle: the fault handler loads it again when it is touched (and reports a failure then).
    for (size_t k = i; k < j; ++k)
      claims_[slots_[k].claim].settle(r == Installed::all ? ChunkState::kDone : ChunkState::kIdle);
    if (r == Installed::all) loaded += j - i;
    for (size_t k = i; k < j && r == Installed::all; ++k) core_.counters.chunks_from_image += slots_[k].in_image;
    i = j;
  }
  core_.installer.wake(claims_);
  core_.counters.prefetch_install_ns += (Clock::now() - t_install).count();
  return loaded;
}

void Prefetcher::start(std::vector<uint64_t> chunks, bool background) {
  if (started_) throw Error("lazy loader: prefetch already started");
  for (uint64_t c : chunks)
    if (c >= core_.chunk_count)
      throw Error(fmt::format("lazy loader: working set names chunk {} but the source has {}", c, core_.chunk_count));
  started_ = true;
  list_ = std::move(chunks);
  background_ = background;
  thread_count_ = std::max(1u, core_.options.prefetch_threads);
  for (size_t i = 0; i < thread_count_; ++i) threads_.emplace_back([this] { run(); });
}

void Prefetcher::wait_working_set() {
  if (started_) working_set_in_.wait(false);
}

void Prefetcher::join() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void Prefetcher::run() {
  bool counted = false;
  try {
    BatchLoader loader(core_, core_.options.prefetch_io_depth);
    const size_t batch = core_.options.prefetch_batch_chunks;
    uint64_t n = 0;
    for (size_t i; (i = ws_cursor_.fetch_add(batch)) < list_.size() && !core_.stopping;)
      n += loader.load_batch(std::span<const uint64_t>(list_).subspan(i, std::min(batch, list_.size() - i)), nullptr);
    core_.counters.chunks_prefetched += n;
    counted = true;
    through_working_set(true);
    if (background_ && !core_.stopping) background_pass(loader);
  } catch (const std::exception& e) {
    spdlog::error("prefetch stopped: {}", e.what());
    if (!counted) through_working_set(false);
  }
}

void Prefetcher::through_working_set(bool thread_ok) {
  if (threads_done_.fetch_add(1) + 1 == thread_count_) {
    if (thread_ok) {
      core_.counters.prefetch_ns = core_.ns_since_start();
      core_.counters.prefetch_done = true;
      if (!list_.empty())
        spdlog::info("prefetch: {} of {} working-set chunks installed in {:.2f} ms",
                     core_.counters.chunks_prefetched.load(), list_.size(), core_.counters.prefetch_ns / 1e6);
    }
    working_set_in_ = true;
    working_set_in_.notify_all();
  }
}

// Starts once every thread is through the working set: a thread that found the list taken would
// otherwise claim working-set chunks another had not claimed yet, loading them out of the
// recorded order (and counting them as background). Runs at the lowest CPU priority, so the
// guest's own faults come first.
void Prefetcher::background_pass(BatchLoader& loader) {
  working_set_in_.wait(false);
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 19);
  const size_t batch = core_.options.prefetch_batch_chunks;
  std::vector<uint64_t> list;
  uint64_t m = 0;
  for (uint64_t i; (i = bg_cursor_.fetch_add(batch)) < core_.chunk_count && !core_.stopping;) {
    list.clear();
    for (uint64_t c = i; c < std::min<uint64_t>(i + batch, core_.chunk_count); ++c)
      if (core_.claims.state(c) == ChunkState::kIdle) list.push_back(c);
    m += loader.load_batch(list, nullptr);
  }
  core_.counters.chunks_background += m;
  if (threads_done_.fetch_add(1) + 1 == 2 * thread_count_)
    spdlog::info("background pass: done {:.2f} ms after restore start ({} chunks)", core_.ns_since_start() / 1e6,
                 core_.counters.chunks_background.load());
}

}  // namespace thaw::memory
