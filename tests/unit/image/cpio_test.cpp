#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.h"
#include "guest/image/cpio_reader.h"
#include "guest/image/cpio_writer.h"

namespace thaw::image {
namespace {

std::vector<std::byte> sample_archive() {
  std::vector<std::byte> out;
  CpioWriter w([&](std::span<const std::byte> b) { out.insert(out.end(), b.begin(), b.end()); });
  w.add_directory("etc", 0755, 1000);
  w.add_file("etc/hostname", 0644, 2000, std::string_view("thaw\n"));
  w.add_file("etc/empty", 0600, 3000, std::string_view(""));
  w.add_symlink("bin", "usr/bin", 4000);
  w.add_char_device("console", 0600, 5, 1);
  std::string big(100001, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = char('a' + i % 26);
  w.add_file("big", 0755, 5000, big);
  w.finish();
  return out;
}

std::string text(std::span<const std::byte> d) { return std::string(reinterpret_cast<const char*>(d.data()), d.size()); }

TEST(Cpio, RoundTripKeepsNamesModesTimesAndContents) {
  auto archive = sample_archive();
  ASSERT_EQ(archive.size() % 4, 0u);
  auto entries = read_cpio(archive);
  ASSERT_EQ(entries.size(), 6u);
  EXPECT_EQ(entries[0].name, "etc");
  EXPECT_EQ(entries[0].mode, S_IFDIR | 0755u);
  EXPECT_EQ(entries[0].mtime, 1000u);
  EXPECT_EQ(entries[0].nlink, 2u);
  EXPECT_EQ(entries[1].name, "etc/hostname");
  EXPECT_EQ(entries[1].mode, S_IFREG | 0644u);
  EXPECT_EQ(text(entries[1].data), "thaw\n");
  EXPECT_EQ(entries[2].data.size(), 0u);
  EXPECT_EQ(entries[3].mode, S_IFLNK | 0777u);
  EXPECT_EQ(text(entries[3].data), "usr/bin");
  EXPECT_EQ(entries[4].mode, S_IFCHR | 0600u);
  EXPECT_EQ(entries[4].rdev_major, 5u);
  EXPECT_EQ(entries[4].rdev_minor, 1u);
  EXPECT_EQ(entries[5].data.size(), 100001u);
  EXPECT_EQ(text(entries[5].data).substr(0, 3), "abc");
  EXPECT_EQ(text(entries[5].data).back(), char('a' + 100000 % 26));
  for (std::size_t i = 0; i < entries.size(); ++i) EXPECT_EQ(entries[i].ino, i + 1);
}

TEST(Cpio, SystemCpioReadsWhatWeWrite) {
  if (access("/usr/bin/cpio", X_OK) != 0) GTEST_SKIP() << "cpio not installed";
  auto archive = sample_archive();
  auto dir = std::filesystem::temp_directory_path() / ("thaw-cpio-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto file = dir / "a.cpio";
  {
    std::ofstream f(file, std::ios::binary);
    f.write(reinterpret_cast<const char*>(archive.data()), static_cast<std::streamsize>(archive.size()));
  }
  std::string cmd = "cd " + dir.string() + " && /usr/bin/cpio -i --quiet --no-absolute-filenames -d -m < a.cpio 2>&1 " +
                    "| grep -v console; cd " + dir.string() + " && /usr/bin/cpio -t --quiet < a.cpio";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string listing;
  char buf[256];
  while (fgets(buf, sizeof buf, p)) listing += buf;
  pclose(p);
  EXPECT_EQ(listing, "etc\netc/hostname\netc/empty\nbin\nconsole\nbig\n");
  std::ifstream hostname(dir / "etc/hostname");
  std::string content((std::istreambuf_iterator<char>(hostname)), {});
  EXPECT_EQ(content, "thaw\n");
  EXPECT_EQ(std::filesystem::read_symlink(dir / "bin"), "usr/bin");
  EXPECT_EQ(std::filesystem::file_size(dir / "big"), 100001u);
  struct stat st;
  ASSERT_EQ(stat((dir / "etc/hostname").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtime, 2000);
  std::filesystem::remove_all(dir);
}

TEST(Cpio, EveryTruncationIsAnError) {
  auto archive = sample_archive();
  for (std::size_t n = 0; n < archive.size(); n += (n < 2048 ? 1 : 997)) {
    EXPECT_THROW(read_cpio(std::span(archive.data(), n)), Error) << "prefix of " << n << " bytes";
  }
}

TEST(Cpio, CorruptHeadersAreErrors) {
  auto archive = sample_archive();
  auto bad_magic = archive;
  bad_magic[0] = std::byte{'1'};
  EXPECT_THROW(read_cpio(bad_magic), Error);
  auto bad_hex = archive;
  bad_hex[6 + 8 * 6] = std::byte{'g'};  // size field of the first entry
  EXPECT_THROW(read_cpio(bad_hex), Error);
  auto huge_size = archive;
  for (int i = 0; i < 8; ++i) huge_size[6 + 8 * 6 + i] = std::byte{'F'};
  EXPECT_THROW(read_cpio(huge_size), Error);
  auto huge_name = archive;
  for (int i = 0; i < 8; ++i) huge_name[6 + 8 * 11 + i] = std::byte{'F'};
  EXPECT_THROW(read_cpio(huge_name), Error);
}

TEST(Cpio, WriterRefusesUnsafeNames) {
  std::vector<std::byte> out;
  CpioWriter w([&](std::span<const std::byte> b) { out.insert(out.end(), b.begin(), b.end()); });
  EXPECT_THROW(w.add_directory("/etc", 0755, 0), Error);
  EXPECT_THROW(w.add_directory("a/../../etc", 0755, 0), Error);
  EXPECT_THROW(w.add_directory("a//b", 0755, 0), Error);
  EXPECT_THROW(w.add_directory("", 0755, 0), Error);
  EXPECT_THROW(w.add_symlink("x", "", 0), Error);
  EXPECT_EQ(out.size(), 0u);
  w.finish();
  EXPECT_THROW(w.add_directory("late", 0755, 0), Error);
  EXPECT_TRUE(read_cpio(out).empty());
}

}  // namespace
}  // namespace thaw::image
