#include "restore-hooks/guest_reseed.h"

#include <fcntl.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <time.h>

#include <cstring>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"

namespace thaw::hooks {

namespace {

UniqueFd open_urandom() {
  UniqueFd fd(::open("/dev/urandom", O_RDWR | O_CLOEXEC));
  if (!fd) throw_errno("open", "/dev/urandom");
  return fd;
}

void force_reseed(const UniqueFd& fd) {
  if (::ioctl(fd.get(), RNDRESEEDCRNG) != 0) throw_errno("ioctl", "/dev/urandom RNDRESEEDCRNG");
}

}  // namespace

void reseed_kernel_crng(std::span<const std::byte> entropy) {
  UniqueFd fd = open_urandom();
  // struct rand_pool_info ends in a flexible array: build it in a byte buffer.
  std::vector<std::byte> buf(sizeof(rand_pool_info) + entropy.size());
  auto* info = reinterpret_cast<rand_pool_info*>(buf.data());
  info->entropy_count = static_cast<int>(entropy.size() * 8);
  info->buf_size = static_cast<int>(entropy.size());
  std::memcpy(buf.data() + sizeof(rand_pool_info), entropy.data(), entropy.size());
  if (::ioctl(fd.get(), RNDADDENTROPY, info) != 0) throw_errno("ioctl", "/dev/urandom RNDADDENTROPY");
  force_reseed(fd);
}

void reseed_kernel_crng_now() { force_reseed(open_urandom()); }

void set_wall_clock(int64_t unix_ns) {
  timespec ts{};
  ts.tv_sec = unix_ns / 1'000'000'000;
  ts.tv_nsec = unix_ns % 1'000'000'000;
  if (::clock_settime(CLOCK_REALTIME, &ts) != 0) throw_errno("clock_settime", "CLOCK_REALTIME");
}

}  // namespace thaw::hooks
