#pragma once
// Guest-side after-restore hooks run by the agent before the runtime resumes: every clone of
// one snapshot starts with the same kernel CRNG state and the same (stale) wall clock, so both
// must be refreshed from the host before any user code can observe them.
#include <cstddef>
#include <cstdint>
#include <span>

namespace thaw::hooks {

// Mixes host entropy into the kernel pool (RNDADDENTROPY, credited) and forces the CRNG to
// reseed from it now (RNDRESEEDCRNG) rather than at its next scheduled reseed, so the very
// next read of /dev/urandom or getrandom() differs between clones.
void reseed_kernel_crng(std::span<const std::byte> entropy);

// Forces the CRNG to reseed now from what the pool holds, which also restarts the kernel's
// clock for its next scheduled reseed. Called just before a checkpoint: that reseed is then
// due seconds after the restore, not at some instant that lands inside one clone's start and
// not another's (without the host's entropy those clones would then differ by chance).
void reseed_kernel_crng_now();

// Sets CLOCK_REALTIME to the host's wall clock (nanoseconds since the epoch).
void set_wall_clock(int64_t unix_ns);

}  // namespace thaw::hooks
