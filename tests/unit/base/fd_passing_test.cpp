// base/fd_passing: descriptors sent with bytes over a Unix stream socket arrive with them and
// work; place_fds puts descriptors at given numbers, even each at the other's.
#include "base/fd_passing.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace thaw {
namespace {

TEST(FdPassing, DescriptorsArriveWithTheirBytesAndWork) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd read_end(p[0]), write_end(p[1]);

  const int fds[] = {write_end.get(), read_end.get()};
  ASSERT_EQ(send_with_fds(a.get(), "hello", fds), 5);
  ASSERT_EQ(::send(a.get(), " world", 6, 0), 6);

  char buf[64];
  std::vector<UniqueFd> got;
  std::string text;
  while (text.size() < 11) {
    ssize_t n = recv_with_fds(b.get(), buf, got);
    ASSERT_GT(n, 0);
    text.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(text, "hello world");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_NE(::fcntl(got[0].get(), F_GETFD) & FD_CLOEXEC, 0) << "received close-on-exec";
  // The received write end feeds the original pipe; the received read end drains it.
  ASSERT_EQ(::write(got[0].get(), "x", 1), 1);
  char c = 0;
  ASSERT_EQ(::read(got[1].get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
}

TEST(FdPassing, NoDescriptorsIsAPlainSend) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  ASSERT_EQ(send_with_fds(a.get(), "abc", {}), 3);
  char buf[8];
  std::vector<UniqueFd> got;
  EXPECT_EQ(recv_with_fds(b.get(), buf, got), 3);
  EXPECT_TRUE(got.empty());
  int too_many[kMaxPassedFds + 1] = {};
  EXPECT_EQ(send_with_fds(a.get(), "x", too_many), -1);
}

// Two descriptors that swap numbers: a naive dup2 of the first would close the second first.
TEST(FdPassing, PlaceFdsSwapsDescriptorsAndClosesTargetsWithNone) {
  int p1[2], p2[2];
  ASSERT_EQ(::pipe2(p1, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(p2, O_CLOEXEC), 0);
  UniqueFd r1(p1[0]), w1(p1[1]), r2(p2[0]), w2(p2[1]);
  UniqueFd spare(::fcntl(w2.get(), F_DUPFD_CLOEXEC, 0));
  ASSERT_TRUE(spare);

  const int from[] = {r1.get(), r2.get(), -1};
  const int to[] = {r2.get(), r1.get(), spare.get()};
  ASSERT_TRUE(place_fds(from, to)) << std::strerror(errno);
  ASSERT_EQ(::write(w1.get(), "1", 1), 1);
  ASSERT_EQ(::write(w2.get(), "2", 1), 1);
  char c = 0;
  ASSERT_EQ(::read(r2.get(), &c, 1), 1);  // now pipe 1's read end
  EXPECT_EQ(c, '1');
  ASSERT_EQ(::read(r1.get(), &c, 1), 1);
  EXPECT_EQ(c, '2');
  EXPECT_EQ(::fcntl(r1.get(), F_GETFD) & FD_CLOEXEC, 0) << "kept across exec";
  EXPECT_EQ(::fcntl(spare.release(), F_GETFD), -1) << "a target with no descriptor is closed";

  const int one[] = {r1.get()};
  EXPECT_FALSE(place_fds(one, {}));
  EXPECT_EQ(errno, EINVAL);
}

}  // namespace
}  // namespace thaw
