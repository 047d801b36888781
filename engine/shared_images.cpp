#include "engine/shared_images.h"

#include <filesystem>

#include "base/log.h"
#include "snapshot/page_store_reader.h"

namespace thaw::engine {

std::shared_ptr<memory::SharedImage> SharedImages::for_snapshot(const std::string& snapshot_dir) {
  if (!enabled_) return nullptr;
  std::lock_guard lock(mu_);
  auto& image = images_[snapshot_dir];
  if (image) return image;
  try {
    auto pages = snapshot::PageStoreReader::open(snapshot_dir);
    std::string name = "thaw-image-" + std::filesystem::path(snapshot_dir).filename().string();
    image = std::make_shared<memory::SharedImage>(
        memory::SharedImage::create(pages->page_count(), pages->pages_per_chunk(), name));
  } catch (const std::exception& e) {
    spdlog::warn("no shared image for {}: {}", snapshot_dir, e.what());
    images_.erase(snapshot_dir);
    return nullptr;
  }
  return image;
}

void SharedImages::forget(const std::string& snapshot_dir) {
  std::lock_guard lock(mu_);
  images_.erase(snapshot_dir);
}

}  // namespace thaw::engine
