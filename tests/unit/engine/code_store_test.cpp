#include "engine/code_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "base/sha256.h"
#include "thaw/error.h"

namespace thaw::engine {
namespace {
namespace fs = std::filesystem;

std::string read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class CodeStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("thaw-code-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    src_ = dir_ / "src";
    fs::create_directories(src_ / "pkg");
    std::ofstream(src_ / "lambda_function.py") << "def handler(e, c):\n    return 1\n";
    std::ofstream(src_ / "pkg/mod.py") << "X = 2\n";
    std::ofstream(src_ / "bootstrap") << "#!/bin/sh\n";
    fs::permissions(src_ / "bootstrap", fs::perms(0755));
    fs::create_symlink("pkg/mod.py", src_ / "link.py");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_, src_;
};

TEST_F(CodeStoreTest, ADirectoryIsZippedTheSameWayEveryTimeAndComesBackWhole) {
  CodeStore store(dir_ / "store");
  auto a = store.put({.directory = src_.string()});
  // Touching every file changes mtimes, not the code: the CodeSha256 stays.
  fs::last_write_time(src_ / "pkg/mod.py", fs::file_time_type::clock::now());
  auto b = store.put({.directory = src_.string()});
  EXPECT_EQ(a.sha256_hex, b.sha256_hex);
  EXPECT_EQ(a.sha256_hex, sha256_file(store.zip_path(a.sha256_hex).string()));
  EXPECT_EQ(a.sha256_base64.size(), 44u);
  EXPECT_EQ(a.sha256_base64, hex_to_base64(a.sha256_hex));

  auto out = dir_ / "out";
  store.extract(a.sha256_hex, out);
  EXPECT_EQ(read(out / "lambda_function.py"), read(src_ / "lambda_function.py"));
  EXPECT_EQ(read(out / "pkg/mod.py"), "X = 2\n");
  EXPECT_EQ(fs::status(out / "bootstrap").permissions() & fs::perms::owner_exec, fs::perms::owner_exec);
  ASSERT_TRUE(fs::is_symlink(out / "link.py"));
  EXPECT_EQ(fs::read_symlink(out / "link.py"), "pkg/mod.py");

  std::ofstream(src_ / "pkg/mod.py") << "X = 3\n";
  EXPECT_NE(store.put({.directory = src_.string()}).sha256_hex, a.sha256_hex);
}

TEST_F(CodeStoreTest, ZipBytesAndZipFilesAreStoredAsGiven) {
  CodeStore store(dir_ / "store");
  auto a = store.put({.directory = src_.string()});
  std::string bytes = read(store.zip_path(a.sha256_hex));
  auto copy = dir_ / "copy.zip";
  std::ofstream(copy, std::ios::binary) << bytes;
  EXPECT_EQ(store.put({.zip_bytes = bytes}).sha256_hex, a.sha256_hex);
  EXPECT_EQ(store.put({.zip_file = copy.string()}).sha256_hex, a.sha256_hex);
  a.pin.release();
  EXPECT_EQ(store.remove_unreferenced({}), 1u);
  EXPECT_FALSE(store.contains(a.sha256_hex));
}

// Code stored for a record not saved yet survives a removal meant for a record that went.
TEST_F(CodeStoreTest, PinnedCodeIsNotRemovedUntilThePinIsDropped) {
  CodeStore store(dir_ / "store");
  auto a = store.put({.directory = src_.string()});
  auto b = store.put({.zip_file = store.zip_path(a.sha256_hex).string()});  // same content, second pin
  store.remove_unless_pinned(a.sha256_hex);
  EXPECT_EQ(store.remove_unreferenced({}), 0u);
  a.pin.release();
  store.remove_unless_pinned(a.sha256_hex);
  EXPECT_TRUE(store.contains(a.sha256_hex)) << "b still pins it";
  CodePin moved = std::move(b.pin);
  b.pin.release();  // an empty pin releases nothing
  store.remove_unless_pinned(a.sha256_hex);
  EXPECT_TRUE(store.contains(a.sha256_hex));
  moved.release();
  store.remove_unless_pinned(a.sha256_hex);
  EXPECT_FALSE(store.contains(a.sha256_hex));
}

TEST_F(CodeStoreTest, BadCodeIsAnInvalidParameter) {
  CodeStore store(dir_ / "store");
  auto code_of = [&](const FunctionCode& c) {
    try {
      store.put(c);
    } catch (const EngineError& e) {
      return e.code();
    }
    return ErrorCode::kInternal;
  };
  EXPECT_EQ(code_of({}), ErrorCode::kInvalidParameter);
  EXPECT_EQ(code_of({.directory = (dir_ / "missing").string()}), ErrorCode::kInvalidParameter);
  EXPECT_EQ(code_of({.zip_bytes = "not a zip at all"}), ErrorCode::kInvalidParameter);
  EXPECT_EQ(code_of({.directory = src_.string(), .zip_bytes = "x"}), ErrorCode::kInvalidParameter);
  EXPECT_EQ(code_of({.zip_bytes = std::string(kMaxZipBytes + 1, 'x')}), ErrorCode::kTooLarge);
  // Nothing half-written stays behind.
  for (const auto& e : fs::directory_iterator(dir_ / "store")) ADD_FAILURE() << "left: " << e.path();
}

TEST_F(CodeStoreTest, EntriesThatClimbOutOfTheCodeAreRefused) {
  // Python's zipfile writes entry names as given, "../evil.txt" included.
  auto evil_dir = dir_ / "evil";
  fs::create_directories(evil_dir);
  auto zip = dir_ / "evil.zip";
  std::string cmd = "cd " + evil_dir.string() +
                    " && python3 -c \"import zipfile; z=zipfile.ZipFile('" + zip.string() +
                    "','w'); z.writestr('../evil.txt','x'); z.close()\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  CodeStore store(dir_ / "store");
  try {
    store.put({.zip_file = zip.string()});
    ADD_FAILURE() << "a zip with ../evil.txt was accepted";
  } catch (const EngineError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidParameter);
    EXPECT_NE(std::string(e.what()).find("../evil.txt"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace thaw::engine
