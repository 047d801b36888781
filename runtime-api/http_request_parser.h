#pragma once
// Incremental HTTP/1.1 request parser (RFC 9112): bytes in, one request out at a time.
// Written for the Lambda Runtime API, whose clients send header lines up to 1 MiB and chunked
// request bodies with trailers. Bytes may arrive split anywhere; every byte is looked at once
// (a long line arriving in pieces is not rescanned). A body longer than the limit is read and
// dropped (body_too_large), so the server can answer 413 and keep the connection.
// Malformed input ends in state kError with a message for a 400 reply; it never throws.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace thaw::runtime_api {

struct HttpLimits {
  std::size_t max_line = (1u << 20) + 1024;     // request line, header or trailer line, chunk-size line
  std::size_t max_header_bytes = 4u << 20;      // the whole header section (and the trailers)
  std::size_t max_header_count = 1000;
  std::size_t max_body = 6u << 20;              // bytes kept; more are counted and dropped
};

struct HttpRequest {
  std::string method;
  std::string target;  // as sent: "/2018-06-01/runtime/invocation/next"
  int version_minor = 1;  // HTTP/1.<minor>
  std::vector<std::pair<std::string, std::string>> headers;   // names as sent, values trimmed
  std::vector<std::pair<std::string, std::string>> trailers;  // after a chunked body
  std::string body;
  std::uint64_t body_length = 0;  // bytes received, including dropped ones
  bool body_too_large = false;    // body_length > max_body: body holds only a prefix (empty)
  bool chunked = false;
  bool keep_alive = true;
  bool expect_continue = false;

  // First header named `name` (ASCII case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
};

class HttpRequestParser {
 public:
  enum class State { kHeaders, kBody, kComplete, kError };

  explicit HttpRequestParser(HttpLimits limits = {});

  // Consumes bytes of `data` until a request is complete or an error is found; returns how
  // many were consumed (the rest belong to the next request, or are garbage after an error).
  std::size_t feed(std::string_view data);

  State state() const { return state_; }
  bool headers_done() const { return state_ == State::kBody || state_ == State::kComplete; }
  // Valid once headers_done(); the whole request once kComplete.
  const HttpRequest& request() const { return req_; }
  HttpRequest take_request() { return std::move(req_); }
  // Why the request is malformed (state kError), and the status to answer with.
  const std::string& error() const { return error_; }
  int error_status() const { return error_status_; }

  // Starts on the next request (after kComplete).
  void reset();

 private:
  enum class BodyMode { kNone, kLength, kChunked };
  enum class ChunkState { kSize, kData, kDataEnd, kTrailers };

  bool fail(std::string message, int status = 400);
  // Appends to the current line; returns true with `line` set when a whole line is there.
  // Lines of the header section and the trailers count against max_header_bytes.
  bool take_line(std::string_view data, std::size_t& pos, std::string_view& line, bool header_section);
  bool on_request_line(std::string_view line);
  bool on_field_line(std::string_view line, std::vector<std::pair<std::string, std::string>>& out);
  bool on_headers_end();
  void append_body(std::string_view bytes);
  std::size_t feed_body(std::string_view data);

  HttpLimits limits_;
  State state_ = State::kHeaders;
  HttpRequest req_;
  std::string line_;
  bool seen_request_line_ = false;
  std::size_t header_bytes_ = 0;
  BodyMode body_mode_ = BodyMode::kNone;
  ChunkState chunk_state_ = ChunkState::kSize;
  std::uint64_t remaining_ = 0;  // of the Content-Length body or of the current chunk
  std::string error_;
  int error_status_ = 400;
};

// ASCII case-insensitive comparison (header names, tokens).
bool iequals(std::string_view a, std::string_view b);

}  // namespace thaw::runtime_api
