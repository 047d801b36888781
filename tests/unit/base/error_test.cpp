#include "base/error.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <string>

#include "base/mapping.h"
#include "base/unique_fd.h"

namespace thaw {
namespace {

TEST(SystemError, NamesCallTargetAndErrno) {
  UniqueFd fd(::open("/nonexistent/thaw-file", O_RDONLY));
  ASSERT_FALSE(fd.valid());
  try {
    throw_errno("open", "/nonexistent/thaw-file");
  } catch (const SystemError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("open(/nonexistent/thaw-file)"), std::string::npos) << m;
    EXPECT_NE(m.find("No such file or directory"), std::string::npos) << m;
    EXPECT_EQ(e.error_number(), ENOENT);
    return;
  }
  FAIL() << "no exception";
}

TEST(Mapping, AnonymousIsZeroAndMoves) {
  Mapping m = Mapping::anonymous(1 << 20);
  ASSERT_TRUE(m);
  EXPECT_EQ(m.data()[12345], std::byte{0});
  m.data()[0] = std::byte{7};
  Mapping n = std::move(m);
  EXPECT_FALSE(m);
  EXPECT_EQ(n.data()[0], std::byte{7});
}

}  // namespace
}  // namespace thaw
