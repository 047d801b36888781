// base/fd_passing: descriptors sent with bytes over a Unix stream socket arrive with them and work.
#include "base/fd_passing.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

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

}  // namespace
}  // namespace thaw
