#pragma once
// Randomness from the kernel's CSPRNG (getrandom), for ids, entropy and temp names.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace thaw {

// Fills `out` from getrandom(); throws SystemError.
void fill_random(std::span<std::byte> out);
uint64_t random_u64();
// `bytes` random bytes as lowercase hex.
std::string random_hex(size_t bytes);

}  // namespace thaw
