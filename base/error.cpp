#include "base/error.h"

#include <cerrno>

namespace thaw {
namespace {
std::string describe(std::string_view call, std::string_view what) {
  std::string s(call);
  if (!what.empty()) {
    s += '(';
    s += what;
    s += ')';
  }
  return s;
}
}  // namespace

SystemError::SystemError(std::string_view call, std::string_view what, int err)
    : std::system_error(err, std::generic_category(), describe(call, what)) {}

void throw_errno(std::string_view call, std::string_view what) { throw SystemError(call, what, errno); }

void throw_error_number(int err, std::string_view call, std::string_view what) {
  throw SystemError(call, what, err < 0 ? -err : err);
}

}  // namespace thaw
