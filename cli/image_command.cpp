// thaw image build: a function image (kernel reference, initramfs, config.json) from a code
// directory and a runtime. See guest/image/image_builder.h for what goes in.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "cli/commands.h"
#include "cli/option_values.h"
#include "engine/guest_paths.h"
#include "guest/image/function_config.h"
#include "guest/image/image_builder.h"

namespace thaw::cli {
namespace {

struct ImageBuildArgs {
  std::string runtime;
  std::string code, out, handler, name, kernel, agent;  // agent: empty = the installed or built one
  unsigned memory_mb = 0;  // 0: the runtime's default
  unsigned timeout_s = image::FunctionConfig::kDefaultTimeoutS;
  unsigned init_timeout_s = image::FunctionConfig::kDefaultInitTimeoutS;
  std::vector<std::string> env;
  bool copy_kernel = false;
  bool no_precompile = false;
  std::string runtime_libraries = "auto";
};

int run_image_build(const ImageBuildArgs& a) {
  image::ImageBuildOptions o;
  o.function.runtime = image::parse_runtime(a.runtime);
  o.function.name = a.name;
  o.function.handler = a.handler.empty() ? std::string(image::FunctionConfig::default_handler(o.function.runtime))
                                         : a.handler;
  o.function.memory_mb = a.memory_mb ? a.memory_mb : image::FunctionConfig::default_memory_mb(o.function.runtime);
  o.function.timeout_s = a.timeout_s;
  o.function.init_timeout_s = a.init_timeout_s;
  o.function.environment = environment_from(a.env);
  o.code_dir = a.code;
  o.out_dir = a.out;
  o.kernel_path = a.kernel;
  o.copy_kernel = a.copy_kernel;
  auto guest = engine::find_guest_paths(a.agent, "");
  o.agent_path = guest.agent;
  o.runtimes_dir = guest.runtimes_dir;
  o.precompile = !a.no_precompile;
  o.runtime_libraries = image::parse_runtime_libraries(a.runtime_libraries);

  auto result = image::build_image(o, [](std::string_view line) {
    std::fprintf(stderr, "image: %.*s\n", static_cast<int>(line.size()), line.data());
  });
  for (const auto& w : result.warnings) std::fprintf(stderr, "image: warning: %s\n", w.c_str());
  const auto& c = result.config;
  std::printf("built %s in %.2f s\n", a.out.c_str(), result.seconds);
  std::printf("  function   %s (%s, handler %s, %u MB, timeout %u s, init %u s)\n", c.function.name.c_str(),
              std::string(image::runtime_name(c.function.runtime)).c_str(),
              c.function.handler.empty() ? "-" : c.function.handler.c_str(), c.function.memory_mb,
              c.function.timeout_s, c.function.init_timeout_s);
  std::printf("  initramfs  %s: %llu files, %llu entries, %.1f MiB\n", c.initramfs.path.c_str(),
              static_cast<unsigned long long>(result.files), static_cast<unsigned long long>(result.entries),
              double(c.initramfs.size) / (1024.0 * 1024.0));
  std::printf("  kernel     %s (%s%s)\n", c.kernel.path.c_str(), c.kernel.version.c_str(),
              c.kernel.copied ? ", copied" : "");
  std::printf("  image id   %s\n", c.image_id.c_str());
  return 0;
}

}  // namespace

Command add_image_command(CLI::App& app) {
  auto* image = app.add_subcommand("image", "build function images");
  image->require_subcommand(1);
  auto* build = image->add_subcommand("build", "build an image from a code directory and a runtime");
  auto a = std::make_shared<ImageBuildArgs>();
  build->add_option("--runtime", a->runtime, "provided (the code brings an executable bootstrap) or python3.11")
      ->required()
      ->check(CLI::IsMember({"provided", "python3.11"}));
  build->add_option("--code", a->code, "directory with the function's code (becomes /var/task)")->required();
  build->add_option("--out", a->out, "image directory to write")->required();
  build->add_option("--handler", a->handler,
                    "handler: python3.11 module.function (default lambda_function.handler); provided: passed as _HANDLER");
  build->add_option("--memory", a->memory_mb, "memory in MiB, 128..10240 (default 256 for python3.11, 128 for provided)");
  build->add_option("--timeout", a->timeout_s, "invoke timeout in seconds, 1..900")->capture_default_str();
  build->add_option("--init-timeout", a->init_timeout_s, "INIT budget in seconds, 1..900")->capture_default_str();
  build->add_option("--env", a->env, "environment variable KEY=VALUE (repeatable)");
  build->add_option("--name", a->name, "function name (default: the code directory's name)");
  build->add_option("--kernel", a->kernel, "guest kernel (default: the newest /boot/vmlinuz-*)");
  build->add_flag("--copy-kernel", a->copy_kernel, "copy the kernel into the image instead of referencing it");
  build->add_option("--agent", a->agent, "guest agent binary, becomes /init (default: the installed one, or the build tree's)");
  build->add_flag("--no-precompile", a->no_precompile, "do not precompile the Python bytecode of the runtime and code");
  build->add_option("--runtime-libraries", a->runtime_libraries,
                    "python3.11: boto3, botocore and the rest of AWS's runtime libraries in the image: auto (when a .py "
                    "file of the code or layers names boto3, botocore or s3transfer), always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  return {image, false, [a]() { return run_image_build(*a); }};
}

}  // namespace thaw::cli
