#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/error.h"
#include "guest/image/elf_dependencies.h"

namespace thaw::image {
namespace {

std::vector<std::byte> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(f)), {});
  std::vector<std::byte> b(c.size());
  std::memcpy(b.data(), c.data(), c.size());
  return b;
}

TEST(ElfDependencies, DynamicBinaryNamesItsLoaderAndLibraries) {
  auto deps = read_elf_dependencies("/usr/bin/python3.11");
  EXPECT_EQ(deps.interpreter, "/lib64/ld-linux-x86-64.so.2");
  EXPECT_NE(std::find(deps.needed.begin(), deps.needed.end(), "libc.so.6"), deps.needed.end());
  EXPECT_NE(std::find(deps.needed.begin(), deps.needed.end(), "libz.so.1"), deps.needed.end());
}

TEST(ElfDependencies, StaticBinaryNeedsNothing) {
  auto deps = read_elf_dependencies("/bin/busybox");
  EXPECT_TRUE(deps.interpreter.empty());
  EXPECT_TRUE(deps.needed.empty());
}

TEST(ElfDependencies, ClosureFollowsLibrariesOfLibraries) {
  std::vector<std::string> missing;
  auto libs = resolve_library_closure("/usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so", missing);
  EXPECT_TRUE(missing.empty());
  auto has = [&](const std::string& suffix) {
    return std::any_of(libs.begin(), libs.end(), [&](const std::string& l) { return l.ends_with(suffix); });
  };
  EXPECT_TRUE(has("/libssl.so.3"));
  EXPECT_TRUE(has("/libcrypto.so.3"));  // needed by libssl too: listed once
  EXPECT_EQ(std::count_if(libs.begin(), libs.end(), [](const std::string& l) { return l.ends_with("/libcrypto.so.3"); }),
            1);
}

TEST(ElfDependencies, GarbageAndTruncatedFilesAreErrors) {
  std::string junk = "this is not an ELF file at all, just text";
  EXPECT_THROW(parse_elf_dependencies(std::as_bytes(std::span(junk.data(), junk.size()))), Error);
  auto python = read_all("/usr/bin/python3.11");
  ASSERT_GT(python.size(), 4096u);
  // Cut anywhere in the headers: an error or a (partial) answer, never a crash.
  for (std::size_t n = 0; n < 4096; n += 7) {
    try {
      parse_elf_dependencies(std::span(python.data(), n));
    } catch (const Error&) {
    }
  }
  EXPECT_THROW(read_elf_dependencies("/etc/passwd"), Error);
}

}  // namespace
}  // namespace thaw::image
