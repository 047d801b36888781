#include "memory/restore_stats.h"

#include <fmt/format.h>

namespace thaw::memory {

std::string to_string(const RestoreStats& s) {
  using ms = std::chrono::duration<double, std::milli>;
  using us = std::chrono::duration<double, std::micro>;
  return fmt::format(
      "faults={} (left to prefetch {}) chunks on_demand={} zero={} prefetched={} background={} read={:.1f} MiB "
      "installed={:.1f} MiB mapped={:.1f} MiB (from image {} chunks) zero={:.1f} MiB removed_pages={} failed_chunks={} failed_pages={} retries={} "
      "first_fault={:.1f} us prefetch={}",
      s.faults, s.faults_left_to_prefetch, s.chunks_on_demand, s.zero_chunks_on_demand, s.chunks_prefetched,
      s.chunks_background, s.bytes_read / 1048576.0, s.bytes_installed / 1048576.0, s.bytes_mapped / 1048576.0, s.chunks_from_image,
      s.zero_bytes_installed / 1048576.0,
      s.pages_removed, s.failed_chunks, s.failed_pages, s.retries, us(s.first_fault_latency).count(),
      s.prefetch_done ? fmt::format("{:.2f} ms (threads: read {:.2f} ms, decode {:.2f} ms, install {:.2f} ms)",
                                    ms(s.prefetch_time).count(), ms(s.prefetch_read_time).count(),
                                    ms(s.prefetch_decode_time).count(), ms(s.prefetch_install_time).count())
                      : std::string("none"));
}

}  // namespace thaw::memory
