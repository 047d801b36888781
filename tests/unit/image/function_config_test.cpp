#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "base/error.h"
#include "guest/image/function_config.h"

namespace thaw::image {
namespace {

FunctionConfig valid_python() {
  FunctionConfig c;
  c.name = "hello";
  c.runtime = Runtime::kPython311;
  c.handler = "lambda_function.handler";
  c.memory_mb = 256;
  return c;
}

void expect_error_mentions(const FunctionConfig& c, const std::string& word) {
  try {
    c.validate();
    ADD_FAILURE() << "no error; expected one mentioning " << word;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
  }
}

TEST(FunctionConfig, DefaultsAreLambdas) {
  EXPECT_EQ(FunctionConfig::kDefaultTimeoutS, 3u);
  EXPECT_EQ(FunctionConfig::kDefaultInitTimeoutS, 10u);
  EXPECT_EQ(FunctionConfig::default_memory_mb(Runtime::kProvided), 128u);
  EXPECT_EQ(FunctionConfig::default_memory_mb(Runtime::kPython311), 256u);
  EXPECT_NO_THROW(valid_python().validate());
}

TEST(FunctionConfig, MemoryAndTimeoutRanges) {
  auto c = valid_python();
  c.memory_mb = 127;
  expect_error_mentions(c, "memory");
  c.memory_mb = 10241;
  expect_error_mentions(c, "memory");
  c.memory_mb = 128;
  EXPECT_NO_THROW(c.validate());
  c.memory_mb = 10240;
  EXPECT_NO_THROW(c.validate());
  c.timeout_s = 0;
  expect_error_mentions(c, "timeout");
  c.timeout_s = 901;
  expect_error_mentions(c, "timeout");
  c.timeout_s = 900;
  EXPECT_NO_THROW(c.validate());
  c.init_timeout_s = 0;
  expect_error_mentions(c, "init timeout");
}

TEST(FunctionConfig, PythonHandlerFormat) {
  auto c = valid_python();
  // AWS's python3.11 runtime needs "text.text" before it imports: the rest is found at INIT.
  for (const char* good : {"lambda_function.handler", "pkg.sub.module.fn", "pkg/sub/module.fn", "_m._f",
                           "my-function.handler", "1pkg/app.handler", "module.1fn", "a..b.fn"}) {
    c.handler = good;
    EXPECT_NO_THROW(c.validate()) << good;
  }
  for (const char* bad : {"handler", "", ".handler", "module.", "mod.fn x"}) {
    c.handler = bad;
    expect_error_mentions(c, "handler");
  }
  c.runtime = Runtime::kProvided;
  c.handler = "anything-goes.here";
  EXPECT_NO_THROW(c.validate());
  c.handler = "";
  EXPECT_NO_THROW(c.validate());
}

TEST(FunctionConfig, NameAndEnvironmentRules) {
  auto c = valid_python();
  c.name = "";
  expect_error_mentions(c, "name");
  c.name = std::string(65, 'a');
  expect_error_mentions(c, "name");
  c.name = "has space";
  expect_error_mentions(c, "name");
  c.name = "ok-name_1";
  c.environment = {{"GOOD_1", "v"}};
  EXPECT_NO_THROW(c.validate());
  c.environment = {{"1BAD", "v"}};
  expect_error_mentions(c, "1BAD");
  c.environment = {{"BAD-NAME", "v"}};
  expect_error_mentions(c, "BAD-NAME");
  c.environment = {{"AWS_REGION", "eu-west-1"}};
  expect_error_mentions(c, "reserved");
  c.environment = {{"_HANDLER", "x.y"}};
  expect_error_mentions(c, "reserved");
  c.environment = {{"BIG", std::string(4097, 'v')}};
  expect_error_mentions(c, "4096");
}

TEST(FunctionConfig, RuntimeNames) {
  EXPECT_EQ(parse_runtime("python3.11"), Runtime::kPython311);
  EXPECT_EQ(parse_runtime("provided"), Runtime::kProvided);
  EXPECT_THROW(parse_runtime("python3.12"), Error);
  EXPECT_EQ(runtime_name(Runtime::kPython311), "python3.11");
}

ImageConfig sample_image() {
  ImageConfig i;
  i.function = valid_python();
  i.function.environment = {{"STAGE", "test"}};
  i.kernel = {"/boot/vmlinuz-6.1.0-56-amd64", "6.1.0-56-amd64", std::string(64, 'a'), 8247232, false};
  i.initramfs.sha256 = std::string(64, 'b');
  i.initramfs.size = 1234;
  i.initramfs.files = 12;
  i.bootstrap = "/var/runtime/bootstrap";
  i.image_id = i.compute_image_id();
  return i;
}

TEST(ImageConfig, JsonRoundTrip) {
  auto i = sample_image();
  auto back = ImageConfig::from_json(nlohmann::json::parse(i.to_json().dump()));
  EXPECT_EQ(back.to_json(), i.to_json());
  EXPECT_EQ(back.compute_image_id(), i.image_id);
  EXPECT_EQ(back.function.environment.at("STAGE"), "test");
}

TEST(ImageConfig, IdChangesWithAnyContent) {
  auto a = sample_image();
  auto b = a;
  b.function.memory_mb = 512;
  EXPECT_NE(a.image_id, b.compute_image_id());
  auto c = a;
  c.initramfs.sha256 = std::string(64, 'c');
  EXPECT_NE(a.image_id, c.compute_image_id());
  auto d = a;
  d.kernel.sha256 = std::string(64, 'd');
  EXPECT_NE(a.image_id, d.compute_image_id());
}

class ImageConfigLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("thaw-imgcfg-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& s) { std::ofstream(dir_ / "config.json") << s; }
  std::filesystem::path dir_;
};

TEST_F(ImageConfigLoad, LoadsWhatWasWritten) {
  write(sample_image().to_json().dump(2));
  auto loaded = ImageConfig::load(dir_);
  EXPECT_EQ(loaded.image_id, sample_image().image_id);
  EXPECT_EQ(loaded.initramfs_path(dir_), (dir_ / "initramfs.cpio").string());
  EXPECT_EQ(loaded.kernel_path(dir_), "/boot/vmlinuz-6.1.0-56-amd64");
}

TEST_F(ImageConfigLoad, RefusesTamperedUnknownAndBrokenConfigs) {
  EXPECT_THROW(ImageConfig::load(dir_), Error);  // no config.json
  auto j = sample_image().to_json();
  j["function"]["memory_mb"] = 1024;  // edited after the build: the id no longer matches
  write(j.dump());
  EXPECT_THROW(ImageConfig::load(dir_), Error);
  j = sample_image().to_json();
  j["format_version"] = 2;
  write(j.dump());
  EXPECT_THROW(ImageConfig::load(dir_), Error);
  j = sample_image().to_json();
  j["function"]["memory_mb"] = "lots";
  write(j.dump());
  EXPECT_THROW(ImageConfig::load(dir_), Error);
  j = sample_image().to_json();
  j["initramfs"]["path"] = "../../etc/shadow";
  write(j.dump());
  EXPECT_THROW(ImageConfig::load(dir_), Error);
  write("{ not json");
  EXPECT_THROW(ImageConfig::load(dir_), Error);
  write("[]");
  EXPECT_THROW(ImageConfig::load(dir_), Error);
}

}  // namespace
}  // namespace thaw::image
