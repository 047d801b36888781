#pragma once
// Each function's log kept in the data directory as Lambda keeps it in CloudWatch Logs: a log
// group per function (`DATA/logs/NAME/`, the group /aws/lambda/NAME), a log stream per sandbox
// named as Lambda names it, `YYYY/MM/DD/[VERSION]<32 hex>` (the UTC day the sandbox started),
// one file per stream. Each event is stored as one line, "<ms since the epoch>\t<message>\n",
// the message's newlines written as "\n" and its backslashes as "\\" (an event may have many
// lines: a traceback, a multi-line print), appended with one write(2) on an O_APPEND
// descriptor, so a reader beside the engine (`thaw logs`, which takes no lock on the data
// directory) sees whole events, or a tail it leaves for its next read.
// Logs stay after their function is deleted, as a log group does on Lambda.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"

namespace thaw::engine {

struct FunctionLogEvent {
  int64_t timestamp_ms = 0;
  std::string stream;   // e.g. "2026/12/02/[$LATEST]3f9c…"
  std::string message;  // the event's text, its lines joined by newlines
};

// One sandbox's log stream, open for appending. Thread-safe. A write that fails (a full disk)
// is reported once on the engine's log and the stream drops its lines: a log never fails an
// invocation.
class LogStreamWriter {
 public:
  // Creates logs_dir/function/<a new stream of `version`>; throws SystemError.
  LogStreamWriter(const std::filesystem::path& logs_dir, const std::string& function, const std::string& version);
  const std::string& stream() const { return stream_; }
  void append(std::string_view line);
  void append(int64_t timestamp_ms, std::string_view line);

 private:
  std::string stream_;
  std::filesystem::path path_;
  UniqueFd fd_;
  std::mutex mu_;
  bool failed_ = false;
};

// Lambda's stream name for a sandbox of `version` started at `timestamp_ms`, with `id` (32 hex).
std::string log_stream_name(int64_t timestamp_ms, const std::string& version, const std::string& id);

// A function's log read from its files: everything at the first read, then only what was
// appended since (follow). Streams are found anew at each read. Not thread-safe.
class FunctionLogReader {
 public:
  FunctionLogReader(std::filesystem::path logs_dir, std::string function);
  // Whether the function has a log group (it has run, or runs, somewhere on this data directory).
  bool exists() const;
  // Events appended since the last read, at or after `since_ms`, in time order (then stream,
  // then place in it). A line not yet ended by its newline waits for the next read. A line that
  // is not "<ms>\t<text>" (a torn or foreign file) is returned with timestamp 0, never dropped.
  std::vector<FunctionLogEvent> read_new(int64_t since_ms = 0);

 private:
  std::filesystem::path dir_;
  std::map<std::string, uint64_t> consumed_;  // stream -> bytes read up to its last newline
};

int64_t now_ms();

}  // namespace thaw::engine
