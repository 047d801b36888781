#include "engine/artifact_builder.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/error.h"
#include "base/random.h"
#include "engine/sandbox_process.h"
#include "guest/image/image_builder.h"

namespace thaw::engine {
namespace fs = std::filesystem;

namespace {

// Removes a work directory however the build ends.
struct WorkDir {
  fs::path path;
  ~WorkDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

image::FunctionConfig image_function(const std::string& name, const FunctionSettings& s) {
  image::FunctionConfig f;
  f.name = name;
  f.runtime = image::parse_runtime(s.runtime);
  f.handler = s.handler;
  f.memory_mb = s.memory_mb;
  f.timeout_s = s.timeout_s;
  f.environment = s.environment;
  return f;
}

}  // namespace

ArtifactBuilder::ArtifactBuilder(ArtifactPaths paths, const CodeStore& code) : paths_(std::move(paths)), code_(code) {
  for (const auto& d : {paths_.images, paths_.snapshots, paths_.chunks, paths_.work}) fs::create_directories(d);
}

std::string ArtifactBuilder::build_image(const std::string& name, const VersionRecord& version) const {
  WorkDir work{paths_.work / ("image-" + random_hex(8))};
  code_.extract(version.code_sha256_hex, work.path / "code");
  image::ImageBuildOptions o;
  o.function = image_function(name, version.settings);
  o.code_dir = (work.path / "code").string();
  for (size_t i = 0; i < version.layers.size(); ++i) {
    auto dir = work.path / ("layer-" + std::to_string(i));
    code_.extract(version.layers[i].code_sha256_hex, dir);
    o.layer_dirs.push_back(dir.string());
  }
  o.out_dir = (work.path / "image").string();
  o.agent_path = paths_.guest_agent;
  o.kernel_path = paths_.kernel;
  o.runtimes_dir = paths_.runtimes_dir;
  auto built = image::build_image(o);
  for (const auto& w : built.warnings) spdlog::warn("image of {}:{}: {}", name, version.version, w);
  // "sha256:<hex>" names the kernel, initramfs and configuration: equal ids are equal images.
  std::string id = built.config.image_id.substr(built.config.image_id.find(':') + 1);
  auto dest = paths_.images / id;
  if (fs::exists(dest / "config.json")) return id;
  std::error_code ec;
  fs::remove_all(dest, ec);
  fs::rename(work.path / "image", dest);
  return id;
}

std::string ArtifactBuilder::take_snapshot(const std::string& name, const VersionRecord& version,
                                           SandboxOptions options, VmmLaunch launch) const {
  auto image = image_dir(version.image).string();
  options.initialization_type = "snap-start";
  options.init_timeout = std::max(options.init_timeout,
                                  std::chrono::milliseconds(std::max(130u, version.settings.timeout_s) * 1000));
  options.function_version = version.version;
  std::string snapshot = name + "-" + version.version + "-" + random_hex(6);
  WorkDir work{paths_.work / ("snapshot-" + snapshot)};
  auto sandbox = SandboxProcess::cold_start(std::move(launch), image, std::move(options));
  auto info = sandbox->checkpoint(work.path.string(), image, paths_.chunks.string());
  spdlog::info("snapshot of {}:{}: INIT {:.0f} ms, saved in {:.0f} ms ({:.1f} MiB new in the chunk store, {} chunks "
               "shared)",
               name, version.version, info.init_ms, info.save_ms, double(info.pages.stored_bytes) / (1 << 20),
               info.pages.dedupe_hits);
  fs::rename(work.path, paths_.snapshots / snapshot);
  return snapshot;
}

}  // namespace thaw::engine
