#include "runtime-api/http_request_parser.h"

#include <algorithm>
#include <charconv>
#include <optional>

namespace thaw::runtime_api {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// RFC 9110 tchar.
bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

// Field values: visible ASCII, SP, HTAB and obs-text; no other control characters.
bool is_field_value(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7f;
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True if the comma-separated list `value` contains `token` (case-insensitive).
bool list_contains(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return &v;
  return nullptr;
}

HttpRequestParser::HttpRequestParser(HttpLimits limits) : limits_(limits) {}

void HttpRequestParser::reset() {
  state_ = State::kHeaders;
  req_ = HttpRequest{};
  line_.clear();
  seen_request_line_ = false;
  header_bytes_ = 0;
  body_mode_ = BodyMode::kNone;
  chunk_state_ = ChunkState::kSize;
  remaining_ = 0;
  error_.clear();
  error_status_ = 400;
}

bool HttpRequestParser::fail(std::string message, int status) {
  state_ = State::kError;
  error_ = std::move(message);
  error_status_ = status;
  return false;
}

bool HttpRequestParser::take_line(std::string_view data, std::size_t& pos, std::string_view& line,
                                  bool header_section) {
  std::string_view rest = data.substr(pos);
  auto lf = rest.find('\n');
  std::size_t take = lf == std::string_view::npos ? rest.size() : lf + 1;
  if (line_.size() + take > limits_.max_line + 2) {
    return fail("line longer than " + std::to_string(limits_.max_line) + " bytes",
                seen_request_line_ ? 431 : 414);
  }
  if (header_section) header_bytes_ += take;
  line_.append(rest.substr(0, take));
  pos += take;
  if (lf == std::string_view::npos) return false;
  // Checked per whole line (max_line bounds a partial one) so the outcome does not depend on
  // how the bytes were split into reads.
  if (header_bytes_ > limits_.max_header_bytes) {
    return fail("header section larger than " + std::to_string(limits_.max_header_bytes) + " bytes", 431);
  }
  line = line_;
  line.remove_suffix(1);  // LF
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find('\r') != std::string_view::npos) return fail("bare CR in a line");
  if (line.find('\0') != std::string_view::npos) return fail("NUL byte in a line");
  return true;
}

bool HttpRequestParser::on_request_line(std::string_view line) {
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return fail("malformed request line (expected: METHOD SP TARGET SP HTTP/1.x)");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) return fail("malformed method in request line");
  if (target.empty() || !std::all_of(target.begin(), target.end(), [](char ch) {
        auto c = static_cast<unsigned char>(ch);
        return c > 0x20 && c != 0x7f;
      })) {
    return fail("malformed request target");
  }
  if (version == "HTTP/1.1") {
    req_.version_minor = 1;
  } else if (version == "HTTP/1.0") {
    req_.version_minor = 0;
  } else if (version.size() == 8 && version.starts_with("HTTP/") && version[6] == '.') {
    return fail("HTTP version not supported: " + std::string(version), 505);
  } else {
    return fail("malformed HTTP version in request line");
  }
  req_.method = method;
  req_.target = target;
  seen_request_line_ = true;
  return true;
}

bool HttpRequestParser::on_field_line(std::string_view line,
                                      std::vector<std::pair<std::string, std::string>>& out) {
  if (line.front() == ' ' || line.front() == '\t') return fail("obsolete line folding is not accepted");
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return fail("header line without ':'");
  std::string_view name = line.substr(0, colon);
  if (!is_token(name)) return fail("malformed header name");
  std::string_view value = trim(line.substr(colon + 1));
  if (!is_field_value(value)) return fail("control character in the value of header " + std::string(name));
  if (req_.headers.size() + req_.trailers.size() >= limits_.max_header_count) {
    return fail("more than " + std::to_string(limits_.max_header_count) + " header fields", 431);
  }
  out.emplace_back(name, value);
  return true;
}

bool HttpRequestParser::on_headers_end() {
  std::optional<std::uint64_t> content_length;
  bool has_transfer_encoding = false;
  req_.keep_alive = req_.version_minor >= 1;
  for (const auto& [name, value] : req_.headers) {
    if (iequals(name, "Content-Length")) {
      std::uint64_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (value.empty() || ec != std::errc() || end != value.data() + value.size()) {
        return fail("malformed Content-Length");
      }
      if (content_length && *content_length != n) return fail("conflicting Content-Length headers");
      content_length = n;
    } else if (iequals(name, "Transfer-Encoding")) {
      if (has_transfer_encoding || !iequals(value, "chunked")) {
        return fail("unsupported Transfer-Encoding (only 'chunked' is): " + value, 501);
      }
      has_transfer_encoding = true;
    } else if (iequals(name, "Connection")) {
      if (list_contains(value, "close")) req_.keep_alive = false;
      else if (list_contains(value, "keep-alive")) req_.keep_alive = true;
    } else if (iequals(name, "Expect")) {
      if (!iequals(value, "100-continue")) return fail("unsupported Expect: " + value, 417);
      req_.expect_continue = req_.version_minor >= 1;
    }
  }
  if (has_transfer_encoding && content_length) return fail("both Transfer-Encoding and Content-Length");
  if (has_transfer_encoding) {
    req_.chunked = true;
    body_mode_ = BodyMode::kChunked;
    chunk_state_ = ChunkState::kSize;
    state_ = State::kBody;
  } else if (content_length && *content_length > 0) {
    body_mode_ = BodyMode::kLength;
    remaining_ = *content_length;
    req_.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, limits_.max_body)));
    state_ = State::kBody;
  } else {
    state_ = State::kComplete;
    req_.expect_continue = false;  // nothing to continue with
  }
  return true;
}

void HttpRequestParser::append_body(std::string_view bytes) {
  req_.body_length += bytes.size();
  if (req_.body_too_large) return;
  if (req_.body_length > limits_.max_body) {
    req_.body_too_large = true;
    std::string().swap(req_.body);
    return;
  }
  req_.body.append(bytes);
}

std::size_t HttpRequestParser::feed_body(std::string_view data) {
  std::size_t pos = 0;
  while (state_ == State::kBody && pos < data.size()) {
    if (body_mode_ == BodyMode::kLength || chunk_state_ == ChunkState::kData) {
      auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size() - pos));
      append_body(data.substr(pos, n));
      pos += n;
      remaining_ -= n;
      if (remaining_ == 0) {
        if (body_mode_ == BodyMode::kLength) state_ = State::kComplete;
        else chunk_state_ = ChunkState::kDataEnd;
      }
      continue;
    }
    std::string_view line;
    if (!take_line(data, pos, line, chunk_state_ == ChunkState::kTrailers)) continue;
    switch (chunk_state_) {
      case ChunkState::kSize: {
        // chunk-size [ BWS ; chunk-ext ]
        std::string_view hex = line.substr(0, std::min(line.find(';'), line.size()));
        hex = trim(hex);
        while (hex.size() > 1 && hex.front() == '0') hex.remove_prefix(1);
        std::uint64_t size = 0;
        auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), size, 16);
        if (hex.empty() || ec != std::errc() || end != hex.data() + hex.size()) {
          fail("malformed chunk size");
          break;
        }
        if (hex.size() > 15) {
          fail("chunk size too large");
          break;
        }
        if (size == 0) {
          chunk_state_ = ChunkState::kTrailers;
        } else {
          remaining_ = size;
          chunk_state_ = ChunkState::kData;
        }
        break;
      }
      case ChunkState::kDataEnd:
        if (!line.empty()) fail("chunk data not followed by CRLF");
        else chunk_state_ = ChunkState::kSize;
        break;
      case ChunkState::kTrailers:
        if (line.empty()) state_ = State::kComplete;
        else on_field_line(line, req_.trailers);
        break;
      case ChunkState::kData:
        break;
    }
    line_.clear();
  }
  return pos;
}

std::size_t HttpRequestParser::feed(std::string_view data) {
  std::size_t pos = 0;
  while (pos < data.size() && (state_ == State::kHeaders || state_ == State::kBody)) {
    if (state_ == State::kBody) {
      pos += feed_body(data.substr(pos));
      continue;
    }
    std::string_view line;
    if (!take_line(data, pos, line, true)) continue;
    if (!seen_request_line_) {
      if (!line.empty()) on_request_line(line);  // empty lines before a request are ignored
    } else if (line.empty()) {
      on_headers_end();
    } else {
      on_field_line(line, req_.headers);
    }
    line_.clear();
  }
  return pos;
}

}  // namespace thaw::runtime_api
