#pragma once
// Errors thaw reports to its users. A SystemError names the syscall that failed, what it
// was working on (a file, a region) and the errno text, so the message alone says what to fix.
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace thaw {

// A failed syscall: "open(/snap/pages.bin): No such file or directory".
class SystemError : public std::system_error {
 public:
  SystemError(std::string_view call, std::string_view what, int err);
  int error_number() const noexcept { return code().value(); }
};

// Bad user input or bad data (a corrupt snapshot, a malformed frame): not a bug, not a syscall.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws SystemError with the current errno.
[[noreturn]] void throw_errno(std::string_view call, std::string_view what = {});
// Throws SystemError with an explicit error number (for APIs that return -errno, like liburing).
[[noreturn]] void throw_error_number(int err, std::string_view call, std::string_view what = {});

}  // namespace thaw
