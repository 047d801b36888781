#pragma once
// Weighted routing of an alias between its version and an additional one, exact rather than
// random: of the first n invocations the additional version gets floor(n * weight) (weight in
// millionths), spread evenly (a Bresenham-style accumulator). So a test of 100 invocations at
// weight 0.3 sees exactly 30, and the split is right at every prefix, not only on average.
#include <cmath>
#include <cstdint>

namespace thaw::engine {

inline constexpr uint64_t kWeightScale = 1'000'000;

inline uint64_t weight_millionths(double weight) { return uint64_t(std::llround(weight * double(kWeightScale))); }

// Whether invocation number `n` (0-based) of the alias goes to the additional version.
inline bool routes_to_additional(uint64_t n, uint64_t weight_millionths) {
  return (n + 1) * weight_millionths / kWeightScale > n * weight_millionths / kWeightScale;
}

}  // namespace thaw::engine
