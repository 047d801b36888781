// thaw::Engine's layers without a VM: publishing, listing and deleting versions, what a
// function's Layers may name, what its image holds under /opt, and what survives a restart.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include <gtest/gtest.h>

#include "guest/image/cpio_reader.h"
#include "tests/common/engine_errors.h"
#include "tests/common/engine_without_vm.h"
#include "thaw/engine.h"

namespace thaw {
namespace {
namespace fs = std::filesystem;

using test::code_of;

class EngineLayers : public test::EngineWithoutVm {
 protected:
  static FunctionSettings provided(std::vector<std::string> layers = {}) {
    FunctionSettings s = EngineWithoutVm::provided();
    s.layers = std::move(layers);
    return s;
  }
  // A layer directory holding bin/tool (printing `word`) and `word`.txt.
  FunctionCode layer_dir(const std::string& word) {
    auto root = dir_ / ("layer-" + word);
    fs::create_directories(root / "bin");
    std::ofstream(root / "bin/tool") << "#!/bin/sh\necho " << word << "\n";
    std::ofstream(root / (word + ".txt")) << word << "\n";
    return {.directory = root.string()};
  }
  // The files of the one image in the data directory, by path.
  std::map<std::string, std::string> image_files() {
    fs::path image;
    for (const auto& e : fs::directory_iterator(dir_ / "data/images")) image = e.path();
    std::ifstream f(image / "initramfs.cpio", std::ios::binary);
    std::vector<char> c((std::istreambuf_iterator<char>(f)), {});
    archive_.resize(c.size());
    std::memcpy(archive_.data(), c.data(), c.size());
    std::map<std::string, std::string> out;
    for (const auto& e : image::read_cpio(archive_))
      out[e.name] = std::string(reinterpret_cast<const char*>(e.data.data()), e.data.size());
    return out;
  }

  std::vector<std::byte> archive_;
};

TEST_F(EngineLayers, VersionsArePublishedListedDeletedAndNeverReused) {
  {
    Engine engine(options(0));
    LayerSettings s{.description = "shell tools", .compatible_runtimes = {"provided"}};
    auto v1 = engine.publish_layer_version("tools", s, layer_dir("one"));
    EXPECT_EQ(v1.version, 1u);
    EXPECT_EQ(v1.layer_arn, "arn:aws:lambda:us-east-1:000000000000:layer:tools");
    EXPECT_EQ(v1.layer_version_arn, "arn:aws:lambda:us-east-1:000000000000:layer:tools:1");
    EXPECT_GT(v1.code_size, 0u);
    EXPECT_EQ(v1.code_sha256.size(), 44u);
    s.compatible_runtimes = {"python3.11"};
    auto v2 = engine.publish_layer_version(v1.layer_arn, s, layer_dir("two"));  // by ARN too
    EXPECT_EQ(v2.version, 2u);
    EXPECT_NE(v2.code_sha256, v1.code_sha256);

    EXPECT_EQ(engine.get_layer_version("tools", 1).settings.description, "shell tools");
    EXPECT_EQ(engine.get_layer_version_by_arn(v2.layer_version_arn).code_sha256, v2.code_sha256);
    auto all = engine.list_layers();
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].version, 2u);
    ASSERT_EQ(engine.list_layers("provided").size(), 1u);
    EXPECT_EQ(engine.list_layers("provided")[0].version, 1u);  // the newest that lists the runtime
    EXPECT_TRUE(engine.list_layers("nodejs20.x").empty());
    auto versions = engine.list_layer_versions("tools");
    ASSERT_EQ(versions.size(), 2u);
    EXPECT_EQ(versions[0].version, 2u);  // newest first

    engine.delete_layer_version("tools", 2);
    engine.delete_layer_version("tools", 2);  // again: nothing to do
    EXPECT_EQ(code_of([&] { engine.get_layer_version("tools", 2); }), ErrorCode::kNotFound);
    EXPECT_EQ(engine.publish_layer_version("tools", {}, layer_dir("three")).version, 3u);

    EXPECT_EQ(code_of([&] { engine.get_layer_version("none", 1); }), ErrorCode::kNotFound);
    EXPECT_EQ(code_of([&] { engine.get_layer_version_by_arn("arn:aws:lambda:eu-west-1:000000000000:layer:tools:1"); }),
              ErrorCode::kNotFound);  // another region's
    EXPECT_EQ(code_of([&] { engine.publish_layer_version("bad name", {}, layer_dir("x")); }),
              ErrorCode::kInvalidParameter);
    EXPECT_EQ(code_of([&] { engine.publish_layer_version("tools", {.compatible_architectures = {"mips"}},
                                                         layer_dir("x")); }),
              ErrorCode::kInvalidParameter);
    EXPECT_EQ(code_of([&] { engine.publish_layer_version("tools", {}, {.directory = (dir_ / "nothing").string()}); }),
              ErrorCode::kInvalidParameter);
  }
  Engine engine(options(0));  // restarted: the records and the numbering are kept
  auto versions = engine.list_layer_versions("tools");
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0].version, 3u);
  EXPECT_EQ(versions[1].version, 1u);
  EXPECT_EQ(engine.publish_layer_version("tools", {}, layer_dir("four")).version, 4u);
}

TEST_F(EngineLayers, AFunctionsLayersAreUnpackedInOrderUnderOpt) {
  Engine engine(options());
  auto a = engine.publish_layer_version("a", {}, layer_dir("alpha"));
  auto b = engine.publish_layer_version("b", {}, layer_dir("beta"));
  auto created = engine.create_function("shell", provided({a.layer_version_arn, b.layer_version_arn}),
                                        {.directory = code_});
  ASSERT_EQ(created.layers.size(), 2u);
  EXPECT_EQ(created.layers[0].arn, a.layer_version_arn);
  EXPECT_EQ(created.layers[1].code_size, b.code_size);
  engine.wait_until_ready("shell");
  auto files = image_files();
  EXPECT_EQ(files["opt/bin/tool"], "#!/bin/sh\necho beta\n");  // the later layer's
  EXPECT_EQ(files["opt/alpha.txt"], "alpha\n");
  EXPECT_EQ(files["opt/beta.txt"], "beta\n");
  EXPECT_TRUE(files.contains("var/task/bootstrap"));

  // A deleted layer version stays in the function that took it: its content, its image.
  engine.delete_layer_version("a", 1);
  FunctionSettingsUpdate timeout;
  timeout.timeout_s = 9;
  engine.update_function_configuration("shell", timeout);
  EXPECT_EQ(engine.wait_until_ready("shell").layers.size(), 2u);
  EXPECT_EQ(image_files()["opt/alpha.txt"], "alpha\n");
  // ... but no new configuration can take it.
  EXPECT_EQ(code_of([&] { engine.create_function("other", provided({a.layer_version_arn}), {.directory = code_}); }),
            ErrorCode::kInvalidParameter);

  FunctionSettingsUpdate none;
  none.layers = std::vector<std::string>{};
  EXPECT_TRUE(engine.update_function_configuration("shell", none).layers.empty());
  engine.wait_until_ready("shell");
  EXPECT_FALSE(image_files().contains("opt/beta.txt"));
  engine.shutdown();
}

TEST_F(EngineLayers, LayersBeyondLambdasRulesAreRefused) {
  Engine engine(options(0));
  std::vector<std::string> six;
  for (int i = 0; i < 6; ++i)
    six.push_back(engine.publish_layer_version("l" + std::to_string(i), {}, layer_dir("w")).layer_version_arn);
  auto refused = [&](std::vector<std::string> layers) {
    return code_of([&] { engine.create_function("f", provided(std::move(layers)), {.directory = code_}); });
  };
  EXPECT_EQ(refused(six), ErrorCode::kInvalidParameter);  // more than 5
  auto again = engine.publish_layer_version("l0", {}, layer_dir("w2")).layer_version_arn;
  EXPECT_EQ(refused({six[0], again}), ErrorCode::kInvalidParameter);  // one layer twice
  EXPECT_EQ(refused({"arn:aws:lambda:us-east-1:000000000000:layer:l0:9"}), ErrorCode::kInvalidParameter);
  EXPECT_EQ(refused({"l0"}), ErrorCode::kInvalidParameter);  // not a version ARN
  EXPECT_EQ(engine.list_functions().size(), 0u);

  // 250 MB unzipped, code and layers together (sparse files: zeros compress to little).
  std::vector<std::string> big;
  for (const char* word : {"big1", "big2"}) {
    auto root = dir_ / word;
    fs::create_directories(root);
    std::ofstream(root / "zeros").close();
    fs::resize_file(root / "zeros", 131'072'001);
    big.push_back(engine.publish_layer_version(word, {}, {.directory = root.string()}).layer_version_arn);
  }
  EXPECT_EQ(refused({big[0]}), ErrorCode::kInternal);  // one fits: created
  try {
    engine.create_function("g", provided(big), {.directory = code_});
    ADD_FAILURE() << "code and layers over 250 MB were taken";
  } catch (const EngineError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidParameter);
    EXPECT_NE(std::string(e.what()).find("262144000"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace thaw
