#pragma once
// The pieces both kinds of Lambda name are read with (function names and qualifiers, layer
// names and version ARNs): the characters a name may hold, a version's digits, ARN fields.
#include <algorithm>
#include <cctype>
#include <string_view>
#include <vector>

namespace thaw::engine {

inline bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; }

inline bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "a:b::c" -> {"a", "b", "", "c"}: every field, empty ones too, views into `s`.
inline std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

}  // namespace thaw::engine
