#pragma once
// One engine per data directory: an exclusive flock on DATA/lock, held for the engine's life
// (the kernel drops it when the process dies, so a killed engine never leaves it stuck). Two
// engines writing one directory would race on its records and its chunk store's packs.
#include <filesystem>

#include "base/unique_fd.h"

namespace thaw::engine {

class DataDirLock {
 public:
  // Throws EngineError(kConflict) naming the process that holds it.
  explicit DataDirLock(const std::filesystem::path& data_dir);

 private:
  UniqueFd fd_;
};

}  // namespace thaw::engine
