#include "engine/shared_images.h"

#include <filesystem>

#include "base/log.h"
#include "snapshot/page_store_reader.h"

namespace thaw::engine {

std::shared_ptr<memory::SharedImage> SharedImages::for_snapshot(const std::string& snapshot_dir) {
  if (!enabled_) return nullptr;
  {
    std::lock_guard lock(mu_);
    if (auto it = images_.find(snapshot_dir); it != images_.end()) return it->second;
  }
  // Outside the lock: opening verifies the snapshot's index, and the first restores of other
  // snapshots need not wait for that.
  std::shared_ptr<memory::SharedImage> made;
  try {
    auto pages = snapshot::PageStoreReader::open(snapshot_dir);
    std::string name = "thaw-image-" + std::filesystem::path(snapshot_dir).filename().string();
    made = std::make_shared<memory::SharedImage>(
        memory::SharedImage::create(pages->page_count(), pages->pages_per_chunk(), name));
  } catch (const std::exception& e) {
    spdlog::warn("no shared image for {}: {}", snapshot_dir, e.what());
    return nullptr;
  }
  std::lock_guard lock(mu_);
  // A restore of the same snapshot that got here first keeps its image; this one, unused, goes.
  return images_.try_emplace(snapshot_dir, std::move(made)).first->second;
}

void SharedImages::forget(const std::string& snapshot_dir) {
  std::lock_guard lock(mu_);
  images_.erase(snapshot_dir);
}

}  // namespace thaw::engine
