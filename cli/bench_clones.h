#pragma once
// Restores of one snapshot in VMM processes of their own, as the engine runs them: one alone,
// then N at once, sharing one decoded copy of the snapshot's memory (memory/shared_image.h) or
// each decoding its own, in processes spawned for them or in spares started before the round
// (engine/vmm_spares.h). Each is timed from its spawn or take to the end of its first response; once
// all have answered, each process's memory is read from /proc (PSS: a page shared by the
// clones counts once over all of them), and the shared copy's own size.
#include <map>
#include <string>

#include "cli/bench_stats.h"
#include "engine/sandbox.h"

namespace thaw::cli {

struct CloneMemory {
  double pss_mib = 0, private_mib = 0, rss_mib = 0;
};

struct ClonesResult {
  unsigned clones = 0;
  bool shared = false;
  bool spares = false;
  double image_mib = 0;          // the shared copy's pages, once the last round answered
  Series single_restore_ms;      // one clone alone, one sample per rep
  std::map<std::string, Series> single_phases_ms;  // its restore's phases (engine/restore_phases.h)
  CloneMemory single;            // the last lone clone
  Series concurrent_restore_ms;  // every clone of every concurrent round
  CloneMemory concurrent;        // all clones of the last round together
};

// `reps` lone restores, then `reps` rounds of `clones` restores at once.
ClonesResult measure_clones(const std::string& snapshot_dir, unsigned clones, unsigned reps, bool shared,
                            bool spares, const engine::SandboxOptions& options);

}  // namespace thaw::cli
