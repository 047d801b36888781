#include <string>

#include <gtest/gtest.h>

#include "guest/image/sha256.h"

namespace thaw::image {
namespace {

std::string hash(std::string_view s) {
  Sha256 h;
  h.update(s);
  return h.hex_digest();
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(hash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, PiecesGiveTheSameHashAsTheWhole) {
  std::string million(1000000, 'a');
  Sha256 h;
  std::size_t off = 0, step = 1;
  while (off < million.size()) {
    auto n = std::min(step, million.size() - off);
    h.update(std::string_view(million).substr(off, n));
    off += n;
    step = step * 3 + 1;  // 1, 4, 13, ...: crosses block boundaries at every offset mod 64
  }
  EXPECT_EQ(h.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

}  // namespace
}  // namespace thaw::image
