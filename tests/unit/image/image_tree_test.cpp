#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "base/error.h"
#include "guest/image/cpio_reader.h"
#include "guest/image/image_tree.h"

namespace thaw::image {
namespace fs = std::filesystem;
namespace {

class ImageTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("thaw-tree-" + std::to_string(getpid()));
    fs::create_directories(root_ / "usr/lib/x");
    std::ofstream(root_ / "usr/lib/x/libfoo.so.1.2") << "foo";
    fs::create_symlink("libfoo.so.1.2", root_ / "usr/lib/x/libfoo.so.1");
    fs::create_symlink("usr/lib", root_ / "lib");
    fs::create_directories(root_ / "code/pkg/__pycache__");
    std::ofstream(root_ / "code/pkg/mod.py") << "x = 1\n";
    std::ofstream(root_ / "code/pkg/__pycache__/mod.cpython-311.pyc") << "stale";
    std::ofstream(root_ / "outside.txt") << "outside";
    fs::create_symlink(root_ / "outside.txt", root_ / "code/link.txt");
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(ImageTreeTest, HostPathRecreatesSymlinksOnTheWay) {
  ImageTree t;
  t.add_host_path((root_ / "lib/x/libfoo.so.1").string());
  auto key = [&](const std::string& rel) { return (root_ / rel).string().substr(1); };
  const auto& e = t.entries();
  ASSERT_TRUE(e.contains(key("lib")));
  EXPECT_EQ(e.at(key("lib")).kind, ImageTree::Kind::kSymlink);
  EXPECT_EQ(e.at(key("lib")).data, "usr/lib");
  ASSERT_TRUE(e.contains(key("usr/lib/x/libfoo.so.1")));
  EXPECT_EQ(e.at(key("usr/lib/x/libfoo.so.1")).kind, ImageTree::Kind::kSymlink);
  ASSERT_TRUE(e.contains(key("usr/lib/x/libfoo.so.1.2")));
  EXPECT_EQ(e.at(key("usr/lib/x/libfoo.so.1.2")).kind, ImageTree::Kind::kFile);
  EXPECT_EQ(e.at(key("usr/lib/x/libfoo.so.1.2")).size, 3u);
  EXPECT_FALSE(e.contains(key("lib/x")));  // never a path through a symlink
}

TEST_F(ImageTreeTest, TreeFilterAndSymlinkFollowing) {
  ImageTree t;
  t.add_host_tree((root_ / "code").string(), "/var/task",
                  [](const std::string& rel, bool dir) { return !(dir && rel.ends_with("__pycache__")); }, true);
  const auto& e = t.entries();
  EXPECT_TRUE(e.contains("var/task/pkg/mod.py"));
  EXPECT_FALSE(e.contains("var/task/pkg/__pycache__"));
  EXPECT_FALSE(e.contains("var/task/pkg/__pycache__/mod.cpython-311.pyc"));
  ASSERT_TRUE(e.contains("var/task/link.txt"));
  EXPECT_EQ(e.at("var/task/link.txt").kind, ImageTree::Kind::kFile);  // followed: the code is self-contained
  ImageTree kept;
  kept.add_host_tree((root_ / "code").string(), "/var/task", {}, false);
  EXPECT_EQ(kept.entries().at("var/task/link.txt").kind, ImageTree::Kind::kSymlink);
}

TEST_F(ImageTreeTest, ParentsComeFirstAndConflictsAreErrors) {
  ImageTree t;
  t.add_inline_file("/etc/thaw/modules", "a\n");
  t.add_symlink("/bin", "usr/bin");
  EXPECT_THROW(t.add_inline_file("/bin/sh", "x"), Error);      // through a symlink
  EXPECT_THROW(t.add_directory("/etc/thaw/modules"), Error);   // file exists
  EXPECT_THROW(t.add_inline_file("relative", "x"), Error);
  EXPECT_THROW(t.add_inline_file("/", "x"), Error);
  t.add_inline_file("/etc/thaw/modules", "b\n");  // same kind: replaced
  std::vector<std::byte> out;
  CpioWriter w([&](std::span<const std::byte> b) { out.insert(out.end(), b.begin(), b.end()); });
  t.write(w);
  w.finish();
  auto entries = read_cpio(out);
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].name, "bin");
  EXPECT_EQ(entries[1].name, "etc");
  EXPECT_EQ(entries[2].name, "etc/thaw");
  EXPECT_EQ(entries[3].name, "etc/thaw/modules");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(entries[3].data.data()), entries[3].data.size()), "b\n");
}

TEST_F(ImageTreeTest, FileChangedAfterAddingIsAnError) {
  ImageTree t;
  t.add_host_file("/x", (root_ / "outside.txt").string());
  std::ofstream(root_ / "outside.txt", std::ios::app) << "more";
  std::vector<std::byte> out;
  CpioWriter w([&](std::span<const std::byte> b) { out.insert(out.end(), b.begin(), b.end()); });
  EXPECT_THROW(t.write(w), Error);
}

}  // namespace
}  // namespace thaw::image
