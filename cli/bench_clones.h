#pragma once
// Restores of one snapshot in VMM processes of their own, as the engine runs them: one alone,
// then N at once. Each is timed from its spawn to the end of its first response; once all have
// answered, each process's memory is read from /proc (PSS: a page shared by the clones counts
// once over all of them).
#include <string>

#include "cli/bench_stats.h"
#include "engine/sandbox.h"

namespace thaw::cli {

struct CloneMemory {
  double pss_mib = 0, private_mib = 0, rss_mib = 0;
};

struct ClonesResult {
  unsigned clones = 0;
  Series single_restore_ms;      // one clone alone, one sample per rep
  CloneMemory single;            // the last lone clone
  Series concurrent_restore_ms;  // every clone of every concurrent round
  CloneMemory concurrent;        // all clones of the last round together
};

// `reps` lone restores, then `reps` rounds of `clones` restores at once.
ClonesResult measure_clones(const std::string& snapshot_dir, unsigned clones, unsigned reps,
                            const engine::SandboxOptions& options);

}  // namespace thaw::cli
