#pragma once
// The shared images of the snapshots an engine restores (memory/shared_image.h): one per
// snapshot, made on its first restore and handed to the VMM process of every clone after it, so
// that a host holds each snapshot's decoded pages once however many clones run. Dropped when
// the snapshot is deleted (clones still running keep theirs until they end). Hands out nothing
// on a kernel that cannot back guest memory with one: clones then decode their own pages.
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "memory/shared_image.h"

namespace thaw::engine {

class SharedImages {
 public:
  explicit SharedImages(bool enabled) : enabled_(enabled && memory::SharedImage::supported()) {}
  bool enabled() const { return enabled_; }

  // The image of the snapshot in `snapshot_dir`; null when disabled, or when the snapshot cannot
  // be opened (its restore then says why) or the host has no memory for the image's files.
  std::shared_ptr<memory::SharedImage> for_snapshot(const std::string& snapshot_dir);
  void forget(const std::string& snapshot_dir);

 private:
  const bool enabled_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<memory::SharedImage>> images_;
};

}  // namespace thaw::engine
