#pragma once
// What publishing and updating a function produce, built off the caller's thread: the
// function's image (kernel + initramfs with its code) and, for SnapStart versions, the
// snapshot taken after its INIT. Each is written under a temp name in its directory and
// renamed into place when complete, so a crash never leaves a half-built artifact under a
// name a record could point at.
#include <filesystem>
#include <functional>
#include <string>

#include "engine/code_store.h"
#include "engine/function_store.h"
#include "engine/guest_paths.h"
#include "engine/sandbox.h"
#include "engine/sandbox_process.h"

namespace thaw::engine {

struct ArtifactPaths {
  std::filesystem::path images, snapshots, chunks, work;
  std::string guest_agent, runtimes_dir, kernel;
  std::string vmm_option;  // EngineOptions::vmm_executable
  // The VMM executable, looked up when a sandbox starts (an engine that starts none needs none).
  std::string vmm() const { return find_vmm_executable(vmm_option); }
};

class ArtifactBuilder {
 public:
  ArtifactBuilder(ArtifactPaths paths, const CodeStore& code);

  // Builds the image of `version` of function `name`; returns its directory name under
  // paths.images (an identical image built before is reused). Throws thaw::Error with what the
  // code or configuration got wrong.
  std::string build_image(const std::string& name, const VersionRecord& version) const;
  // Cold-starts the image in a VMM process with initialization_type "snap-start", runs INIT and its
  // before-snapshot hooks, and snapshots it into the shared chunk store; returns the snapshot's
  // directory name under paths.snapshots. SandboxError when INIT fails.
  std::string take_snapshot(const std::string& name, const VersionRecord& version, SandboxOptions options,
                            VmmLaunch launch) const;

  std::filesystem::path image_dir(const std::string& image) const { return paths_.images / image; }
  std::filesystem::path snapshot_dir(const std::string& snapshot) const { return paths_.snapshots / snapshot; }
  const ArtifactPaths& paths() const { return paths_; }

 private:
  ArtifactPaths paths_;
  const CodeStore& code_;
};

}  // namespace thaw::engine
