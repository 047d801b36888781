#pragma once
// A function's configuration as Lambda defines it, and the image config (config.json) that
// carries it together with the identity of the kernel and initramfs it boots from.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace thaw::image {

enum class Runtime { kProvided, kPython311 };
std::string_view runtime_name(Runtime r);  // "provided", "python3.11"
Runtime parse_runtime(std::string_view name);  // throws thaw::Error on an unknown name

struct FunctionConfig {
  // Lambda's limits.
  static constexpr unsigned kMinMemoryMb = 128, kMaxMemoryMb = 10240;
  static constexpr unsigned kMaxTimeoutS = 900;
  static constexpr unsigned kMaxInitTimeoutS = 900;
  static constexpr std::size_t kMaxEnvironmentBytes = 4096;
  // Defaults: Lambda's timeout (3 s) and INIT budget (10 s). Memory: Lambda's own default is
  // 128 MB, but a Python guest holds its whole image (~35 MB unpacked from the initramfs)
  // in RAM next to the interpreter, so python3.11 defaults to 256.
  static constexpr unsigned kDefaultTimeoutS = 3;
  static constexpr unsigned kDefaultInitTimeoutS = 10;
  static unsigned default_memory_mb(Runtime r) { return r == Runtime::kPython311 ? 256 : 128; }
  static std::string_view default_handler(Runtime r) {
    return r == Runtime::kPython311 ? "lambda_function.handler" : "";
  }

  std::string name;  // 1-64 of [A-Za-z0-9_-]
  Runtime runtime = Runtime::kPython311;
  std::string handler;  // python3.11: "module.function" (nested: "pkg.mod.fn" or "pkg/mod.fn")
  unsigned memory_mb = 256;
  unsigned timeout_s = kDefaultTimeoutS;
  unsigned init_timeout_s = kDefaultInitTimeoutS;
  std::map<std::string, std::string> environment;

  // Throws thaw::Error naming the first field that breaks Lambda's rules.
  void validate() const;
  nlohmann::json to_json() const;
  static FunctionConfig from_json(const nlohmann::json& j);  // validates
};

// Environment variables the platform sets itself; a function may not set them (as in Lambda).
bool is_reserved_environment_variable(std::string_view key);

// What a built image is: config.json in the image directory.
struct ImageConfig {
  static constexpr int kFormatVersion = 1;

  FunctionConfig function;
  struct Kernel {
    std::string path;  // absolute, or relative to the image directory when copied
    std::string version;
    std::string sha256;
    std::uint64_t size = 0;
    bool copied = false;
  } kernel;
  struct Initramfs {
    std::string path = "initramfs.cpio";  // relative to the image directory
    std::string sha256;
    std::uint64_t size = 0;
    std::uint64_t files = 0;
    std::string compression = "none";
  } initramfs;
  std::string bootstrap;  // path of the runtime's bootstrap inside the guest
  std::string image_id;   // "sha256:<hex>" over the kernel, the initramfs and the function config

  nlohmann::json to_json() const;
  static ImageConfig from_json(const nlohmann::json& j);
  // The id the fields above give; image_id must equal it.
  std::string compute_image_id() const;

  // Reads IMAGE/config.json, checks the format version and the id. Throws thaw::Error.
  static ImageConfig load(const std::string& image_dir);
  // Host path of the kernel / initramfs of an image loaded from `image_dir`.
  std::string kernel_path(const std::string& image_dir) const;
  std::string initramfs_path(const std::string& image_dir) const;
};

}  // namespace thaw::image
