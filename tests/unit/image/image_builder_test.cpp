#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.h"
#include "guest/image/cpio_reader.h"
#include "guest/image/image_builder.h"
#include "base/sha256.h"

namespace thaw::image {
namespace fs = std::filesystem;
namespace {

std::string as_text(std::span<const std::byte> d) { return std::string(reinterpret_cast<const char*>(d.data()), d.size()); }

class ImageBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("thaw-imgbuild-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    agent_ = (dir_ / "agent").string();
    std::ofstream(agent_) << "#!/bin/sh\n# stands in for the guest agent: only its bytes are checked\n";
    fs::permissions(agent_, fs::perms(0755));
  }
  void TearDown() override { fs::remove_all(dir_); }

  ImageBuildOptions options(Runtime runtime, const std::string& example) {
    ImageBuildOptions o;
    o.function.runtime = runtime;
    o.function.handler = std::string(FunctionConfig::default_handler(runtime));
    o.function.memory_mb = FunctionConfig::default_memory_mb(runtime);
    o.code_dir = std::string(THAW_SOURCE_DIR) + "/examples/functions/" + example;
    o.out_dir = (dir_ / "image").string();
    o.agent_path = agent_;
    o.runtimes_dir = std::string(THAW_SOURCE_DIR) + "/guest/runtimes";
    return o;
  }

  // The built archive, by name.
  std::map<std::string, CpioEntry> entries(const std::string& image_dir) {
    std::ifstream f(image_dir + "/initramfs.cpio", std::ios::binary);
    std::vector<char> c((std::istreambuf_iterator<char>(f)), {});
    archive_.resize(c.size());
    std::memcpy(archive_.data(), c.data(), c.size());
    std::map<std::string, CpioEntry> by_name;
    for (auto& e : read_cpio(archive_)) by_name[e.name] = e;
    return by_name;
  }

  void expect_error(const ImageBuildOptions& o, const std::string& words) {
    try {
      build_image(o);
      ADD_FAILURE() << "built; expected an error mentioning: " << words;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  }

  fs::path dir_;
  std::string agent_;
  std::vector<std::byte> archive_;
};

TEST_F(ImageBuilderTest, ProvidedImageHoldsAgentBusyboxModulesAndCode) {
  auto o = options(Runtime::kProvided, "provided-shell");
  auto r = build_image(o);
  auto e = entries(o.out_dir);

  ASSERT_TRUE(e.contains("init"));
  EXPECT_EQ(e["init"].mode & 0777, 0755u);
  EXPECT_EQ(as_text(e["init"].data), "#!/bin/sh\n# stands in for the guest agent: only its bytes are checked\n");
  ASSERT_TRUE(e.contains("dev/console"));
  EXPECT_TRUE(S_ISCHR(e["dev/console"].mode));
  EXPECT_TRUE(e.contains("usr/bin/busybox"));
  ASSERT_TRUE(e.contains("usr/bin/sh"));
  EXPECT_EQ(as_text(e["usr/bin/sh"].data), "/usr/bin/busybox");
  EXPECT_TRUE(e.contains("usr/bin/wget"));
  EXPECT_TRUE(S_ISLNK(e["bin"].mode));
  EXPECT_FALSE(e.contains("linuxrc"));
  ASSERT_TRUE(e.contains("var/task/bootstrap"));
  EXPECT_NE(e["var/task/bootstrap"].mode & 0100, 0u);
  EXPECT_EQ(e["tmp"].mode & 07777, 01777u);

  // The module list names files that are in the archive, dependencies first.
  std::istringstream modules(as_text(e["etc/thaw/modules"].data));
  std::vector<std::string> names;
  for (std::string line; std::getline(modules, line);) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_TRUE(e.contains(line.substr(1))) << line;
    names.push_back(fs::path(line).filename().string());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"virtio_ring.ko", "virtio.ko", "virtio_mmio.ko", "virtio_console.ko"}));

  auto loaded = ImageConfig::load(o.out_dir);
  EXPECT_EQ(loaded.image_id, r.config.image_id);
  EXPECT_EQ(loaded.bootstrap, "/var/task/bootstrap");
  EXPECT_EQ(loaded.function.name, "provided-shell");
  EXPECT_EQ(loaded.function.memory_mb, 128u);
  EXPECT_EQ(loaded.initramfs.sha256, sha256_file(o.out_dir + "/initramfs.cpio"));
  EXPECT_EQ(loaded.initramfs.size, fs::file_size(o.out_dir + "/initramfs.cpio"));
  EXPECT_EQ(loaded.kernel.sha256, sha256_file(loaded.kernel.path));
  EXPECT_EQ(r.files, loaded.initramfs.files);
  EXPECT_FALSE(fs::exists(o.out_dir + "/.pyc-build"));
}

TEST_F(ImageBuilderTest, PythonImageHoldsInterpreterLibrariesPrunedStdlibAndBytecode) {
  auto o = options(Runtime::kPython311, "python-hello");
  o.function.environment = {{"STAGE", "test"}};
  o.copy_kernel = true;
  auto r = build_image(o);
  auto e = entries(o.out_dir);

  for (const char* present :
       {"usr/bin/python3.11", "usr/bin/python3", "lib64", "usr/lib64/ld-linux-x86-64.so.2",
        "usr/lib/x86_64-linux-gnu/libc.so.6", "usr/lib/x86_64-linux-gnu/libz.so.1", "usr/lib/python3.11/os.py",
        "usr/lib/python3.11/__pycache__/os.cpython-311.pyc", "usr/lib/python3.11/json/__init__.py",
        "usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so", "usr/lib/x86_64-linux-gnu/libssl.so.3",
        "var/runtime/bootstrap", "var/runtime/snapshot_restore_py.py", "var/runtime/thaw_lambda_runtime/main.py",
        "var/runtime/thaw_lambda_runtime/__pycache__/main.cpython-311.pyc", "var/task/lambda_function.py",
        "var/task/__pycache__/lambda_function.cpython-311.pyc"})
    EXPECT_TRUE(e.contains(present)) << present;
  for (const char* pruned :
       {"usr/lib/python3.11/test", "usr/lib/python3.11/idlelib", "usr/lib/python3.11/ensurepip",
        "usr/lib/python3.11/lib2to3", "usr/lib/python3.11/pydoc_data", "usr/lib/python3.11/turtle.py",
        "usr/lib/python3.11/__pycache__/turtle.cpython-311.pyc", "usr/lib/python3.11/config-3.11-x86_64-linux-gnu",
        "usr/lib/python3.11/sitecustomize.py", "usr/lib/python3.11/lib-dynload/nis.cpython-311-x86_64-linux-gnu.so",
        "usr/lib/x86_64-linux-gnu/libdb-5.3.so"})
    EXPECT_FALSE(e.contains(pruned)) << pruned;
  EXPECT_NE(e["var/runtime/bootstrap"].mode & 0100, 0u);

  // Timestamp .pyc: bytes 8..11 hold the source's mtime, which the archive keeps.
  auto pyc = e["var/task/__pycache__/lambda_function.cpython-311.pyc"].data;
  ASSERT_GE(pyc.size(), 16u);
  std::uint32_t source_mtime;
  std::memcpy(&source_mtime, pyc.data() + 8, 4);
  EXPECT_EQ(source_mtime, e["var/task/lambda_function.py"].mtime);

  auto loaded = ImageConfig::load(o.out_dir);
  EXPECT_EQ(loaded.bootstrap, "/var/runtime/bootstrap");
  EXPECT_EQ(loaded.function.handler, "lambda_function.handler");
  EXPECT_EQ(loaded.function.environment.at("STAGE"), "test");
  EXPECT_TRUE(loaded.kernel.copied);
  EXPECT_EQ(sha256_file(loaded.kernel_path(o.out_dir)), loaded.kernel.sha256);
  EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();

  // The same inputs give the same image.
  auto again = build_image(o);
  EXPECT_EQ(again.config.image_id, r.config.image_id);
}

// boto3 and the rest come when the code names them (or when asked), simplejson always; botocore's
// models gzipped, the examples left out; a memory size the image cannot boot in is refused.
TEST_F(ImageBuilderTest, RuntimeLibrariesWhenTheCodeNamesThem) {
  const std::string site = "var/lang/lib/python3.11/site-packages/";
  auto o = options(Runtime::kPython311, "python-hello");
  build_image(o);
  auto e = entries(o.out_dir);
  EXPECT_TRUE(e.contains(site + "simplejson/__init__.py"));
  EXPECT_FALSE(e.contains(site + "boto3")) << "python-hello names no AWS SDK";

  auto code = dir_ / "uses-sdk";
  fs::create_directories(code / "lib");
  std::ofstream(code / "lambda_function.py") << "from lib import store\ndef handler(e, c):\n    return store.put(e)\n";
  std::ofstream(code / "lib" / "store.py") << "import boto3\ndef put(e):\n    return boto3.__version__\n";
  EXPECT_EQ(find_aws_sdk_user({code.string()}), (code / "lib" / "store.py").string());
  o.code_dir = code.string();
  build_image(o);
  e = entries(o.out_dir);
  for (const char* present : {"boto3/__init__.py", "botocore/__init__.py", "s3transfer/__init__.py",
                              "jmespath/__init__.py", "dateutil/__init__.py", "urllib3/__init__.py",
                              "botocore/data/s3/2006-03-01/service-2.json.gz", "botocore/data/endpoints.json.gz"})
    EXPECT_TRUE(e.contains(site + present)) << present;
  EXPECT_FALSE(e.contains(site + "botocore/data/s3/2006-03-01/service-2.json"));
  EXPECT_FALSE(e.contains(site + "botocore/data/s3/2006-03-01/examples-1.json.gz"));
  auto gz = e[site + "botocore/data/endpoints.json.gz"].data;
  ASSERT_GE(gz.size(), 2u);
  EXPECT_EQ(std::to_integer<int>(gz[0]), 0x1f) << "a gzip member";
  EXPECT_EQ(std::to_integer<int>(gz[1]), 0x8b);

  o.runtime_libraries = RuntimeLibraries::kNever;
  build_image(o);
  EXPECT_FALSE(entries(o.out_dir).contains(site + "boto3"));
  o.runtime_libraries = RuntimeLibraries::kAlways;
  o.code_dir = std::string(THAW_SOURCE_DIR) + "/examples/functions/python-hello";
  o.function.memory_mb = 160;
  expect_error(o, "give the function at least 224 MB, or build it without boto3");
  o.runtime_libraries = RuntimeLibraries::kNever;
  o.function.memory_mb = 128;
  expect_error(o, "give the function at least 192 MB");
  EXPECT_THROW(parse_runtime_libraries("sometimes"), Error);
}

// Layers are unpacked under /opt in the function's order: a later layer's file replaces an
// earlier one's, what only one layer has stays, and /opt/python gets bytecode like /var/task.
TEST_F(ImageBuilderTest, LayersGoUnderOptInOrderAndALaterOneWins) {
  auto o = options(Runtime::kPython311, "python-hello");
  for (const char* layer : {"first", "second"}) {
    auto root = dir_ / layer;
    fs::create_directories(root / "bin");
    fs::create_directories(root / "python");
    std::ofstream(root / "bin" / "tool") << "#!/bin/sh\necho " << layer << "\n";
    std::ofstream(root / "python" / (std::string(layer) + "_lib.py")) << "NAME = '" << layer << "'\n";
    o.layer_dirs.push_back(root.string());
  }
  auto r = build_image(o);
  auto e = entries(o.out_dir);
  ASSERT_TRUE(e.contains("opt/bin/tool"));
  EXPECT_EQ(as_text(e["opt/bin/tool"].data), "#!/bin/sh\necho second\n");
  EXPECT_TRUE(e.contains("opt/python/first_lib.py"));
  EXPECT_TRUE(e.contains("opt/python/second_lib.py"));
  EXPECT_TRUE(e.contains("opt/python/__pycache__/first_lib.cpython-311.pyc"));
  EXPECT_TRUE(e.contains("var/task/lambda_function.py"));

  // Other layers, another image.
  o.layer_dirs.pop_back();
  EXPECT_NE(build_image(o).config.image_id, r.config.image_id);
}

TEST_F(ImageBuilderTest, AProvidedFunctionsBootstrapMayComeFromALayer) {
  auto o = options(Runtime::kProvided, "provided-shell");
  fs::create_directories(dir_ / "handler-only");
  std::ofstream(dir_ / "handler-only/function.sh") << "handler() { echo; }\n";
  o.code_dir = (dir_ / "handler-only").string();
  expect_error(o, "or of a layer");
  auto layer = dir_ / "runtime-layer";
  fs::create_directories(layer);
  std::ofstream(layer / "bootstrap") << "#!/bin/sh\n";
  fs::permissions(layer / "bootstrap", fs::perms(0755));
  o.layer_dirs.push_back(layer.string());
  auto r = build_image(o);
  EXPECT_EQ(r.config.bootstrap, "/opt/bootstrap");
  auto e = entries(o.out_dir);
  ASSERT_TRUE(e.contains("opt/bootstrap"));
  EXPECT_NE(e["opt/bootstrap"].mode & 0100, 0u);
}

TEST_F(ImageBuilderTest, BadInputGivesClearErrors) {
  auto o = options(Runtime::kProvided, "provided-shell");
  o.code_dir = (dir_ / "nope").string();
  expect_error(o, "does not exist");

  fs::create_directories(dir_ / "nobootstrap");
  std::ofstream(dir_ / "nobootstrap/main.sh") << "echo\n";
  o.code_dir = (dir_ / "nobootstrap").string();
  expect_error(o, "bootstrap");

  std::ofstream(dir_ / "nobootstrap/bootstrap") << "#!/bin/sh\n";
  fs::permissions(dir_ / "nobootstrap/bootstrap", fs::perms(0644));
  expect_error(o, "not an executable");

  auto p = options(Runtime::kPython311, "python-hello");
  p.function.handler = "lambda_function";
  expect_error(p, "handler");
  p = options(Runtime::kPython311, "python-hello");
  p.function.memory_mb = 64;
  expect_error(p, "memory");
  p = options(Runtime::kPython311, "python-hello");
  p.function.timeout_s = 901;
  expect_error(p, "timeout");
  p = options(Runtime::kPython311, "python-hello");
  p.agent_path = (dir_ / "no-agent").string();
  expect_error(p, "guest agent");
  p = options(Runtime::kPython311, "python-hello");
  p.out_dir = (dir_ / "busy").string();
  fs::create_directories(p.out_dir);
  std::ofstream(p.out_dir + "/precious.txt") << "keep me";
  expect_error(p, "not empty");
  EXPECT_TRUE(fs::exists(p.out_dir + "/precious.txt"));
  p = options(Runtime::kPython311, "python-hello");
  p.kernel_path = (dir_ / "no-kernel").string();
  expect_error(p, "kernel");
}

TEST_F(ImageBuilderTest, MissingHandlerModuleIsAWarningNotAnError) {
  auto o = options(Runtime::kPython311, "python-hello");
  o.function.handler = "missing_module.handler";
  auto r = build_image(o);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("Runtime.ImportModuleError"), std::string::npos);
}

TEST(FunctionNames, FromDirectoryNames) {
  EXPECT_EQ(function_name_from_dir("/x/python-hello"), "python-hello");
  EXPECT_EQ(function_name_from_dir("/x/python-hello/"), "python-hello");
  EXPECT_EQ(function_name_from_dir("/x/my func.v2"), "my-func-v2");
  EXPECT_EQ(function_name_from_dir("/x/" + std::string(80, 'a')).size(), 64u);
}

}  // namespace
}  // namespace thaw::image
