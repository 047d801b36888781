// spdlog's and fmt's own code, compiled once here for every thaw target. Debian ships both as
// shared libraries only, and the guest agent (PID 1 of the microVM) links statically, so thaw
// builds them itself: every other translation unit sees only their declarations
// (SPDLOG_COMPILED_LIB, no FMT_HEADER_ONLY), where the header-only mode compiled all of both
// into each one (a third of most files' compile time). What is instantiated here is what the
// headers leave to the library: fmt's locale and float helpers, spdlog's sinks and factories.
#include <fmt/format-inl.h>

#include <spdlog/common-inl.h>
#include <spdlog/details/backtracer-inl.h>
#include <spdlog/details/log_msg-inl.h>
#include <spdlog/details/log_msg_buffer-inl.h>
#include <spdlog/details/os-inl.h>
#include <spdlog/details/periodic_worker-inl.h>
#include <spdlog/details/registry-inl.h>
#include <spdlog/logger-inl.h>
#include <spdlog/pattern_formatter-inl.h>
#include <spdlog/sinks/ansicolor_sink-inl.h>
#include <spdlog/sinks/base_sink-inl.h>
#include <spdlog/sinks/sink-inl.h>
#include <spdlog/sinks/stdout_color_sinks-inl.h>
#include <spdlog/sinks/stdout_sinks-inl.h>
#include <spdlog/spdlog-inl.h>

#include <mutex>

namespace fmt {
inline namespace v9 {
namespace detail {
template auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;
template locale_ref::locale_ref(const std::locale& loc);
template auto locale_ref::get<std::locale>() const -> std::locale;
template auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template auto thousands_sep_impl(locale_ref) -> thousands_sep_result<wchar_t>;
template auto decimal_point_impl(locale_ref) -> char;
template auto decimal_point_impl(locale_ref) -> wchar_t;
template void buffer<char>::append(const char*, const char*);
template void buffer<wchar_t>::append(const wchar_t*, const wchar_t*);
template void vformat_to(buffer<char>&, string_view, basic_format_args<FMT_BUFFER_CONTEXT(char)>, locale_ref);
}  // namespace detail
}  // namespace v9
}  // namespace fmt

namespace spdlog {
template class sinks::base_sink<std::mutex>;
template class sinks::base_sink<details::null_mutex>;
template class sinks::ansicolor_sink<details::console_mutex>;
template class sinks::ansicolor_sink<details::console_nullmutex>;
template class sinks::ansicolor_stdout_sink<details::console_mutex>;
template class sinks::ansicolor_stdout_sink<details::console_nullmutex>;
template class sinks::ansicolor_stderr_sink<details::console_mutex>;
template class sinks::ansicolor_stderr_sink<details::console_nullmutex>;
template class sinks::stdout_sink_base<details::console_mutex>;
template class sinks::stdout_sink_base<details::console_nullmutex>;
template class sinks::stdout_sink<details::console_mutex>;
template class sinks::stdout_sink<details::console_nullmutex>;
template class sinks::stderr_sink<details::console_mutex>;
template class sinks::stderr_sink<details::console_nullmutex>;
template std::shared_ptr<logger> stdout_color_mt<synchronous_factory>(const std::string&, color_mode);
template std::shared_ptr<logger> stdout_color_st<synchronous_factory>(const std::string&, color_mode);
template std::shared_ptr<logger> stderr_color_mt<synchronous_factory>(const std::string&, color_mode);
template std::shared_ptr<logger> stderr_color_st<synchronous_factory>(const std::string&, color_mode);
}  // namespace spdlog
