// Base64 as the Lambda API carries blobs: round trips, and only canonical text decodes.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/base64.h"

namespace thaw {
namespace {

TEST(Base64, RoundTripsAndRefusesWhatIsNotCanonical) {
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff\x10", 3)})
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  for (const char* bad : {"Zm9", "Zm9v!", "Z===", "Zm=v", "Zg==Zg=="}) EXPECT_FALSE(base64_decode(bad)) << bad;
}

}  // namespace
}  // namespace thaw
