#include "guest/image/image_builder.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/atomic_file.h"
#include "base/error.h"
#include "guest/image/cpio_writer.h"
#include "guest/image/guest_files.h"
#include "guest/image/host_command.h"
#include "guest/image/image_tree.h"
#include "guest/image/python_runtime_libraries.h"
#include "base/sha256.h"

namespace thaw::image {
namespace fs = std::filesystem;
namespace {

constexpr const char* kInitramfsName = "initramfs.cpio";
constexpr const char* kCopiedKernelName = "vmlinuz";

std::string mib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / (1024.0 * 1024.0));
  return buf;
}

bool is_executable_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0;
}

// Where a `provided` function's bootstrap is in the guest: /var/task/bootstrap from the code, else
// /opt/bootstrap from a layer (the last layer that has one wins, as in the image), as Lambda looks.
std::string provided_bootstrap(const ImageBuildOptions& o) {
  std::error_code ec;
  auto bootstrap = o.code_dir + "/bootstrap";
  if (fs::exists(bootstrap, ec)) {
    if (!is_executable_file(bootstrap))
      throw Error(bootstrap + " is not an executable file (chmod +x it): the 'provided' runtime starts it");
    return "/var/task/bootstrap";
  }
  for (auto layer = o.layer_dirs.rbegin(); layer != o.layer_dirs.rend(); ++layer)
    if (is_executable_file(*layer + "/bootstrap")) return "/opt/bootstrap";
  throw Error("runtime 'provided' needs an executable file named 'bootstrap' at the top of the code directory "
              "or of a layer; " + o.code_dir + " has none");
}

void check_code_dir(const ImageBuildOptions& o, std::vector<std::string>& warnings) {
  if (o.code_dir.empty()) throw Error("no code directory given (--code DIR)");
  std::error_code ec;
  if (!fs::exists(o.code_dir, ec)) throw Error("code directory " + o.code_dir + " does not exist");
  if (!fs::is_directory(o.code_dir, ec)) throw Error("code path " + o.code_dir + " is not a directory");
  if (o.function.runtime == Runtime::kProvided) {
    provided_bootstrap(o);
    return;
  }
  // python3.11: a missing handler module is an init error at run time (Runtime.ImportModuleError),
  // as in Lambda; say so now too.
  auto module = o.function.handler.substr(0, o.function.handler.rfind('.'));
  for (auto& c : module)
    if (c == '.') c = '/';
  auto base = o.code_dir + "/" + module;
  if (!fs::exists(base + ".py", ec) && !fs::exists(base + "/__init__.py", ec) && !fs::is_directory(base, ec))
    warnings.push_back("handler module " + module + ".py not found in " + o.code_dir +
                       ": invocations will fail with Runtime.ImportModuleError");
}

void prepare_out_dir(const std::string& out) {
  std::error_code ec;
  if (fs::exists(out, ec)) {
    if (!fs::is_directory(out, ec)) throw Error("output " + out + " exists and is not a directory");
    bool empty = fs::is_empty(out, ec);
    if (!empty && !fs::exists(out + "/config.json", ec))
      throw Error("output directory " + out + " is not empty and holds no image; refusing to write into it");
    // A build that fails half way must not leave a config that points at new files.
    fs::remove(out + "/config.json", ec);
  } else {
    fs::create_directories(out, ec);
    if (ec) throw SystemError("mkdir", out, ec.value());
  }
}

// Bytecode for the modules of the runtime, the function and its layers (/opt/python),
// compiled by the guest's own interpreter (the same binary) so that the first import in the
// guest does not compile.
// Timestamp-checked .pyc files: the archive keeps the sources' mtimes, so they stay valid.
void precompile(ImageTree& tree, const std::string& python, const std::string& work_dir,
                std::vector<std::string>& warnings) {
  std::string input;
  struct Output {
    std::string host_pyc, guest_pyc;
    std::uint32_t mtime;  // the source's: a rebuild from the same sources gives the same archive
  };
  std::vector<Output> outputs;
  int n = 0;
  for (const auto& [key, e] : tree.entries()) {
    if (e.kind != ImageTree::Kind::kFile || e.is_inline || !key.ends_with(".py")) continue;
    if (key.rfind("var/task/", 0) != 0 && key.rfind("var/runtime/", 0) != 0 && key.rfind("opt/python/", 0) != 0)
      continue;
    auto guest = fs::path("/" + key);
    auto guest_pyc = guest.parent_path() / "__pycache__" / (guest.stem().string() + ".cpython-311.pyc");
    auto host_pyc = work_dir + "/" + std::to_string(n++) + ".pyc";
    input += e.host_path + "\t" + host_pyc + "\t" + guest.string() + "\n";
    outputs.push_back({host_pyc, guest_pyc.string(), e.mtime});
  }
  if (outputs.empty()) return;
  static const char* kScript =
      "import sys, py_compile\n"
      "for line in sys.stdin:\n"
      "    src, pyc, guest = line.rstrip('\\n').split('\\t')\n"
      "    try:\n"
      "        py_compile.compile(src, cfile=pyc, dfile=guest, doraise=True,\n"
      "                           invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)\n"
      "    except Exception:\n"
      "        pass\n";
  auto r = run_host_command({python, "-S", "-c", kScript}, input);
  if (r.exit_status != 0) {
    warnings.push_back("precompiling bytecode failed (exit " + std::to_string(r.exit_status) +
                       "): the guest compiles modules at first import");
    return;
  }
  std::error_code ec;
  for (const auto& out : outputs)  // absent: a syntax error, left to the init phase to report
    if (fs::exists(out.host_pyc, ec)) tree.add_host_file(out.guest_pyc, out.host_pyc, out.mtime);
}

// The guest unpacks its root filesystem from the initramfs into its own memory, and until that
// is done it holds both, beside the kernel: about 72 MiB + 2.1 x the archive, plus the kernel's
// page structures (1/64 of the memory). Measured on Debian's 6.1 kernel: a 61 MiB archive does
// not boot in 192 MiB and does in 224 MiB; a 44 MiB one does not boot in 144 MiB. An image that
// cannot boot is refused here, not left to a kernel panic at its first cold start.
void check_fits_in_memory(const ImageTree& tree, unsigned memory_mb) {
  constexpr double kMiB = 1024.0 * 1024.0;
  double archive_mib = (double(tree.file_bytes()) + double(tree.entries().size()) * 176.0) / kMiB + 1.0;
  double needed_mib = 72.0 + 2.1 * archive_mib;
  if (double(memory_mb) * (1.0 - 1.0 / 64.0) >= needed_mib) return;
  auto at_least = unsigned(std::ceil(needed_mib / (1.0 - 1.0 / 64.0) / 32.0)) * 32;
  char why[320];
  std::snprintf(why, sizeof why,
                "the image's root filesystem (about %.0f MiB) is unpacked into the guest's memory at boot, and %u MB "
                "is too little for that: give the function at least %u MB",
                archive_mib, memory_mb, at_least);
  std::string message = why;
  if (tree.contains("/var/lang/lib/python3.11/site-packages/botocore"))
    message += ", or build it without boto3 (--runtime-libraries never; about 18 MiB less) if it does not use it";
  throw Error(message);
}

}  // namespace

std::string function_name_from_dir(const std::string& dir) {
  auto path = fs::absolute(dir).lexically_normal();
  if (path.filename().empty()) path = path.parent_path();
  auto name = path.filename().string();
  for (auto& c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) c = '-';
  if (name.size() > 64) name.resize(64);
  return name.empty() ? "function" : name;
}

ImageBuildResult build_image(const ImageBuildOptions& options, const ProgressFn& progress) {
  auto start = std::chrono::steady_clock::now();
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  ImageBuildResult result;
  ImageBuildOptions o = options;
  if (o.function.name.empty()) o.function.name = function_name_from_dir(o.code_dir);
  o.function.validate();
  check_code_dir(o, result.warnings);
  if (o.out_dir.empty()) throw Error("no output directory given (--out IMAGE)");
  if (o.agent_path.empty() || !is_executable_file(o.agent_path))
    throw Error("guest agent not found at '" + o.agent_path + "' (build the thaw-agent target, or pass --agent PATH)");

  // Kernel and its modules.
  ImageConfig config;
  config.function = o.function;
  auto kernel = o.kernel_path.empty() ? newest_kernel() : o.kernel_path;
  struct stat kst;
  if (::stat(kernel.c_str(), &kst) != 0 || !S_ISREG(kst.st_mode)) throw Error("kernel " + kernel + " is not a file");
  config.kernel.version = kernel_version_from_path(kernel);
  auto modules_dir = o.modules_dir;
  if (modules_dir.empty()) {
    if (config.kernel.version.empty())
      throw Error("cannot tell the version of kernel " + kernel + " from its name; pass the modules directory");
    modules_dir = "/lib/modules/" + config.kernel.version;
  }
  say("kernel " + kernel + " (" + mib(std::uint64_t(kst.st_size)) + ")");
  config.kernel.sha256 = sha256_file(kernel);
  config.kernel.size = std::uint64_t(kst.st_size);
  config.kernel.path = fs::absolute(kernel).lexically_normal().string();

  ImageTree tree;
  tree.add_directory("/dev");
  tree.add_char_device("/dev/console", 0600, 5, 1);  // the kernel opens it for /init's stdio
  tree.add_directory("/proc", 0555);
  tree.add_directory("/sys", 0555);
  tree.add_directory("/tmp", 01777);
  tree.add_directory("/run");
  tree.add_directory("/root", 0700);
  tree.add_directory("/opt");
  tree.add_host_file("/init", o.agent_path);
  tree.add_inline_file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
  tree.add_inline_file("/etc/group", "root:x:0:\n");
  tree.add_inline_file("/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost\n");

  std::string module_list = "# Kernel modules the agent loads, in this order (thaw image build).\n";
  auto modules = resolve_modules(modules_dir, o.modules.empty() ? default_guest_modules() : o.modules);
  for (const auto& m : modules) {
    auto canonical = fs::canonical(m).string();
    tree.add_host_path(canonical);
    module_list += canonical + "\n";
  }
  tree.add_inline_file("/etc/thaw/modules", module_list);
  // The network card's driver, loaded only by a sandbox that has one.
  std::string net_list = "# Kernel modules the agent loads when its sandbox has a network card.\n";
  for (const auto& m : resolve_modules(modules_dir, guest_network_modules())) {
    if (std::find(modules.begin(), modules.end(), m) != modules.end()) continue;
    auto canonical = fs::canonical(m).string();
    tree.add_host_path(canonical);
    net_list += canonical + "\n";
  }
  tree.add_inline_file("/etc/thaw/net-modules", net_list);
  say("modules: " + std::to_string(modules.size()) + " from " + modules_dir);

  add_busybox(tree, o.busybox_path);

  auto no_pycache = [](const std::string& rel, bool dir) {
    return !(dir && fs::path(rel).filename() == "__pycache__");
  };
  if (o.function.runtime == Runtime::kPython311) {
    add_python_runtime(tree, {o.python_interpreter, o.python_stdlib}, result.warnings);
    auto runtime_src = o.runtimes_dir + "/python3.11";
    if (!is_executable_file(runtime_src + "/bootstrap"))
      throw Error("python3.11 runtime sources not found at " + runtime_src);
    tree.add_host_tree(runtime_src, "/var/runtime", no_pycache, true);
    config.bootstrap = "/var/runtime/bootstrap";
    say("runtime python3.11: " + o.python_interpreter + ", stdlib " + o.python_stdlib + ", client " + runtime_src);
    bool with_sdk = o.runtime_libraries == RuntimeLibraries::kAlways;
    std::string why = "--runtime-libraries always";
    if (o.runtime_libraries == RuntimeLibraries::kAuto) {
      std::vector<std::string> dirs{o.code_dir};
      dirs.insert(dirs.end(), o.layer_dirs.begin(), o.layer_dirs.end());
      why = find_aws_sdk_user(dirs);
      with_sdk = !why.empty();
    }
    auto libs = add_python_runtime_libraries(tree, o.python_dist_packages, with_sdk, result.warnings);
    if (libs.aws_sdk)
      say("runtime libraries: boto3 and " + std::to_string(libs.packages - 1) + " more from " + o.python_dist_packages +
          " (for " + why + "), " + std::to_string(libs.compressed_models) + " botocore models gzipped (" +
          std::to_string(libs.model_bytes >> 20) + " MiB to " + std::to_string(libs.compressed_model_bytes >> 20) +
          " MiB)");
    else
      say("runtime libraries: simplejson; no boto3 (no .py file of the code or layers names boto3, botocore or "
          "s3transfer; --runtime-libraries always adds it)");
  } else {
    config.bootstrap = provided_bootstrap(o);
  }

  auto before_code = tree.entries().size();
  tree.add_host_tree(o.code_dir, "/var/task",
                     o.function.runtime == Runtime::kPython311 ? ImageTree::Filter(no_pycache) : ImageTree::Filter(),
                     true);
  say("code: " + std::to_string(tree.entries().size() - before_code) + " entries from " + o.code_dir);
  for (const auto& layer : o.layer_dirs) {
    auto before = tree.entries().size();
    tree.add_host_tree(layer, "/opt", ImageTree::Filter(no_pycache), true);
    say("layer: " + std::to_string(tree.entries().size() - before) + " new entries from " + layer);
  }

  check_fits_in_memory(tree, o.function.memory_mb);
  prepare_out_dir(o.out_dir);
  auto pyc_dir = o.out_dir + "/.pyc-build";
  struct PycDirCleanup {
    std::string dir;
    ~PycDirCleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{pyc_dir};
  if (o.function.runtime == Runtime::kPython311 && o.precompile) {
    std::error_code ec;
    fs::create_directories(pyc_dir, ec);
    if (ec) throw SystemError("mkdir", pyc_dir, ec.value());
    precompile(tree, o.python_interpreter, pyc_dir, result.warnings);
  }

  // The initramfs, hashed as it is written.
  say("writing " + o.out_dir + "/" + kInitramfsName);
  auto cpio_path = o.out_dir + "/" + kInitramfsName;
  auto cpio_tmp = cpio_path + ".tmp";
  Sha256 cpio_hash;
  {
    FileSink file(cpio_tmp);
    CpioWriter writer([&](std::span<const std::byte> b) {
      cpio_hash.update(b);
      file.write(b);
    });
    tree.write(writer);
    writer.finish();
    file.close();
    config.initramfs.size = writer.bytes_written();
    result.entries = writer.entries();
  }
  if (::rename(cpio_tmp.c_str(), cpio_path.c_str()) != 0) throw_errno("rename", cpio_tmp);
  config.initramfs.path = kInitramfsName;
  config.initramfs.sha256 = cpio_hash.hex_digest();
  for (const auto& [k, e] : tree.entries())
    if (e.kind == ImageTree::Kind::kFile) ++result.files;
  config.initramfs.files = result.files;
  result.file_bytes = tree.file_bytes();

  if (o.copy_kernel) {
    std::error_code ec;
    fs::copy_file(kernel, o.out_dir + "/" + kCopiedKernelName, fs::copy_options::overwrite_existing, ec);
    if (ec) throw SystemError("copy", kernel, ec.value());
    config.kernel.path = kCopiedKernelName;
    config.kernel.copied = true;
  }
  config.image_id = config.compute_image_id();
  write_file_atomic(o.out_dir + "/config.json", config.to_json().dump(2) + "\n");

  result.config = config;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace thaw::image
