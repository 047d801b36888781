#include "engine/function_logs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <spdlog/spdlog.h>

#include "base/error.h"
#include "restore-hooks/host_hooks.h"

namespace thaw::engine {
namespace fs = std::filesystem;

int64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string log_stream_name(int64_t timestamp_ms, const std::string& version, const std::string& id) {
  time_t secs = time_t(timestamp_ms / 1000);
  tm t;
  gmtime_r(&secs, &t);
  char day[48];
  std::snprintf(day, sizeof day, "%04d/%02d/%02d", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday);
  return std::string(day) + "/[" + version + "]" + id;
}

namespace {

std::string hex_id() {
  std::string id = hooks::new_uuid_v4();
  std::erase(id, '-');
  return id;
}

}  // namespace

LogStreamWriter::LogStreamWriter(const fs::path& logs_dir, const std::string& function, const std::string& version)
    : stream_(log_stream_name(now_ms(), version, hex_id())), path_(logs_dir / function / stream_) {
  std::error_code ec;
  fs::create_directories(path_.parent_path(), ec);
  if (ec) throw SystemError("mkdir", path_.parent_path().string(), ec.value());
  fd_.reset(::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!fd_) throw_errno("open", path_.string());
}

void LogStreamWriter::append(std::string_view line) { append(now_ms(), line); }

void LogStreamWriter::append(int64_t timestamp_ms, std::string_view line) {
  std::string record = std::to_string(timestamp_ms) + "\t";
  record.reserve(record.size() + line.size() + 1);
  for (char c : line) {
    if (c == '\n') {
      record += "\\n";
    } else {
      if (c == '\\') record += '\\';
      record += c;
    }
  }
  record += '\n';
  std::lock_guard lock(mu_);
  if (failed_) return;
  ssize_t n = ::write(fd_.get(), record.data(), record.size());
  if (n == ssize_t(record.size())) return;
  failed_ = true;
  spdlog::warn("log stream {}: {}; its further lines are dropped", path_.string(),
               n < 0 ? std::string(std::strerror(errno)) : "short write");
}

FunctionLogReader::FunctionLogReader(fs::path logs_dir, std::string function)
    : dir_(std::move(logs_dir) / std::move(function)) {}

bool FunctionLogReader::exists() const {
  std::error_code ec;
  return fs::is_directory(dir_, ec);
}

namespace {

// The complete lines of `path` after `from` (updated to the end of the last one).
std::vector<std::string> new_lines(const fs::path& path, uint64_t& from) {
  std::ifstream f(path, std::ios::binary);
  std::vector<std::string> out;
  if (!f) return out;
  f.seekg(std::streamoff(from));
  std::string text((std::istreambuf_iterator<char>(f)), {});
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(text.substr(start, nl - start));
  from += start;
  return out;
}

// "\\n" back to a newline and "\\\\" to a backslash; any other backslash stays as it is.
std::string unescape_message(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == 'n' || text[i + 1] == '\\')) {
      out += text[i + 1] == 'n' ? '\n' : '\\';
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

FunctionLogEvent parse_record(const std::string& stream, const std::string& record) {
  FunctionLogEvent e{0, stream, record};
  auto tab = record.find('\t');
  if (tab == std::string::npos) return e;
  int64_t ts = 0;
  auto [end, ec] = std::from_chars(record.data(), record.data() + tab, ts);
  if (ec != std::errc() || end != record.data() + tab) return e;
  e.timestamp_ms = ts;
  e.message = unescape_message(std::string_view(record).substr(tab + 1));
  return e;
}

}  // namespace

std::vector<FunctionLogEvent> FunctionLogReader::read_new(int64_t since_ms) {
  std::vector<FunctionLogEvent> events;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return events;
  for (auto it = fs::recursive_directory_iterator(dir_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string stream = fs::relative(it->path(), dir_, ec).string();
    for (const auto& record : new_lines(it->path(), consumed_[stream])) {
      auto e = parse_record(stream, record);
      if (e.timestamp_ms == 0 || e.timestamp_ms >= since_ms) events.push_back(std::move(e));
    }
  }
  // Stable: lines of one stream with one timestamp keep their order.
  std::stable_sort(events.begin(), events.end(), [](const auto& a, const auto& b) {
    return a.timestamp_ms != b.timestamp_ms ? a.timestamp_ms < b.timestamp_ms : a.stream < b.stream;
  });
  return events;
}

}  // namespace thaw::engine
