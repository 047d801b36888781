#include "guest/image/function_config.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/sha256.h"

namespace thaw::image {
namespace {

// What AWS's python3.11 runtime needs of a handler before it tries to import it: "text.text".
// The module part may be any text importlib takes ("my-function", "1pkg/app"); whether it
// imports is found out at INIT, as on AWS (Runtime.ImportModuleError).
void check_python_handler(const std::string& h) {
  auto dot = h.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == h.size())
    throw Error("bad handler '" + h + "' for python3.11: expected module.function" +
                " (e.g. lambda_function.handler or pkg/module.handler)");
}

template <typename T>
T get_field(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) throw Error(std::string("config: missing field '") + key + "'");
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(std::string("config: field '") + key + "' has the wrong type");
  }
}

}  // namespace

std::string_view runtime_name(Runtime r) { return r == Runtime::kProvided ? "provided" : "python3.11"; }

Runtime parse_runtime(std::string_view name) {
  // Lambda's OS-only runtimes differ in their Amazon Linux; here each runs the function's own
  // bootstrap on thaw's guest alike.
  if (name == "provided" || name == "provided.al2" || name == "provided.al2023") return Runtime::kProvided;
  if (name == "python3.11") return Runtime::kPython311;
  throw Error("unknown runtime '" + std::string(name) + "' (supported: provided, provided.al2, provided.al2023, python3.11)");
}

bool is_reserved_environment_variable(std::string_view key) {
  static const char* const kReserved[] = {
      "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
      "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
      "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
      "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
      "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"};
  for (const char* r : kReserved)
    if (key == r) return true;
  return false;
}

void FunctionConfig::validate() const {
  if (name.empty() || name.size() > 64) throw Error("function name must be 1 to 64 characters: '" + name + "'");
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
      throw Error("function name may contain only letters, digits, '-' and '_': '" + name + "'");
  if (memory_mb < kMinMemoryMb || memory_mb > kMaxMemoryMb)
    throw Error("memory must be between 128 and 10240 MiB, not " + std::to_string(memory_mb));
  if (timeout_s < 1 || timeout_s > kMaxTimeoutS)
    throw Error("timeout must be between 1 and 900 seconds, not " + std::to_string(timeout_s));
  if (init_timeout_s < 1 || init_timeout_s > kMaxInitTimeoutS)
    throw Error("init timeout must be between 1 and 900 seconds, not " + std::to_string(init_timeout_s));
  if (handler.size() > 128) throw Error("handler longer than 128 characters");
  for (char c : handler)
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c)))
      throw Error("handler contains whitespace or control characters: '" + handler + "'");
  if (runtime == Runtime::kPython311) check_python_handler(handler);
  std::size_t env_bytes = 0;
  for (const auto& [k, v] : environment) {
    if (is_reserved_environment_variable(k)) throw Error("environment variable " + k + " is reserved by the runtime");
    bool ok = !k.empty() && std::isalpha(static_cast<unsigned char>(k[0]));
    for (char c : k) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!ok) throw Error("bad environment variable name '" + k + "' (letters, digits and '_', starting with a letter)");
    if (v.find('\0') != std::string::npos) throw Error("environment variable " + k + " contains a NUL byte");
    env_bytes += k.size() + v.size();
  }
  if (env_bytes > kMaxEnvironmentBytes)
    throw Error("environment variables take " + std::to_string(env_bytes) + " bytes; Lambda's limit is 4096");
}

nlohmann::json FunctionConfig::to_json() const {
  return {{"name", name},
          {"runtime", runtime_name(runtime)},
          {"handler", handler},
          {"memory_mb", memory_mb},
          {"timeout_s", timeout_s},
          {"init_timeout_s", init_timeout_s},
          {"environment", environment}};
}

FunctionConfig FunctionConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw Error("config: function is not an object");
  FunctionConfig c;
  c.name = get_field<std::string>(j, "name");
  c.runtime = parse_runtime(get_field<std::string>(j, "runtime"));
  c.handler = get_field<std::string>(j, "handler");
  c.memory_mb = get_field<unsigned>(j, "memory_mb");
  c.timeout_s = get_field<unsigned>(j, "timeout_s");
  c.init_timeout_s = get_field<unsigned>(j, "init_timeout_s");
  c.environment = get_field<std::map<std::string, std::string>>(j, "environment");
  c.validate();
  return c;
}

nlohmann::json ImageConfig::to_json() const {
  return {{"format_version", kFormatVersion},
          {"image_id", image_id},
          {"function", function.to_json()},
          {"kernel",
           {{"path", kernel.path},
            {"version", kernel.version},
            {"sha256", kernel.sha256},
            {"size", kernel.size},
            {"copied", kernel.copied}}},
          {"initramfs",
           {{"path", initramfs.path},
            {"sha256", initramfs.sha256},
            {"size", initramfs.size},
            {"files", initramfs.files},
            {"compression", initramfs.compression}}},
          {"bootstrap", bootstrap}};
}

ImageConfig ImageConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw Error("config: not a JSON object");
  int version = get_field<int>(j, "format_version");
  if (version != kFormatVersion)
    throw Error("config: image format version " + std::to_string(version) + " is not supported (this thaw reads " +
                std::to_string(kFormatVersion) + "); rebuild the image");
  ImageConfig c;
  c.image_id = get_field<std::string>(j, "image_id");
  c.function = FunctionConfig::from_json(get_field<nlohmann::json>(j, "function"));
  auto k = get_field<nlohmann::json>(j, "kernel");
  c.kernel.path = get_field<std::string>(k, "path");
  c.kernel.version = get_field<std::string>(k, "version");
  c.kernel.sha256 = get_field<std::string>(k, "sha256");
  c.kernel.size = get_field<std::uint64_t>(k, "size");
  c.kernel.copied = get_field<bool>(k, "copied");
  auto i = get_field<nlohmann::json>(j, "initramfs");
  c.initramfs.path = get_field<std::string>(i, "path");
  c.initramfs.sha256 = get_field<std::string>(i, "sha256");
  c.initramfs.size = get_field<std::uint64_t>(i, "size");
  c.initramfs.files = get_field<std::uint64_t>(i, "files");
  c.initramfs.compression = get_field<std::string>(i, "compression");
  c.bootstrap = get_field<std::string>(j, "bootstrap");
  if (c.initramfs.path.empty() || c.initramfs.path.front() == '/' || c.initramfs.path.find("..") != std::string::npos)
    throw Error("config: initramfs path must be a plain name inside the image directory");
  return c;
}

std::string ImageConfig::compute_image_id() const {
  Sha256 h;
  h.update("thaw-image-v1\n");
  h.update(kernel.sha256 + "\n");
  h.update(initramfs.sha256 + "\n");
  h.update(function.to_json().dump() + "\n");
  h.update(bootstrap + "\n");
  return "sha256:" + h.hex_digest();
}

ImageConfig ImageConfig::load(const std::string& image_dir) {
  std::string path = image_dir + "/config.json";
  std::ifstream in(path);
  if (!in) throw Error("not a thaw image (no readable " + path + ")");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
  ImageConfig c;
  try {
    c = from_json(j);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  if (c.compute_image_id() != c.image_id) throw Error(path + ": image_id does not match the config's contents");
  return c;
}

std::string ImageConfig::kernel_path(const std::string& image_dir) const {
  return kernel.copied ? image_dir + "/" + kernel.path : kernel.path;
}

std::string ImageConfig::initramfs_path(const std::string& image_dir) const {
  return image_dir + "/" + initramfs.path;
}

}  // namespace thaw::image
