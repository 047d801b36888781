#include "engine/local_queues.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/error.h"
#include "engine/function_logs.h"

namespace thaw::engine {
namespace fs = std::filesystem;

void check_queue_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 80 &&
            std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
  if (!ok) throw Error("queue name '" + std::string(name) + "': 1 to 80 letters, digits, - and _");
}

std::optional<std::string> queue_name_of_arn(std::string_view arn) {
  for (std::string_view prefix : {"arn:thaw:queue:", "arn:aws:sqs:"}) {
    if (!arn.starts_with(prefix)) continue;
    auto rest = arn.substr(prefix.size());  // REGION:ACCOUNT:NAME
    auto a = rest.find(':');
    auto b = a == std::string_view::npos ? a : rest.find(':', a + 1);
    if (b == std::string_view::npos) return std::nullopt;
    std::string name(rest.substr(b + 1));
    try {
      check_queue_name(name);
    } catch (const Error&) {
      return std::nullopt;
    }
    return name;
  }
  return std::nullopt;
}

LocalQueues::LocalQueues(fs::path dir) : dir_(std::move(dir)) {}

void LocalQueues::send(const std::string& queue, const std::string& body,
                       const std::map<std::string, std::string>& attributes) {
  check_queue_name(queue);
  const auto dir = dir_ / queue;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw SystemError("mkdir", dir.string(), ec.value());
  char name[64];
  {
    std::lock_guard lock(mu_);
    std::snprintf(name, sizeof name, "%013lld-%06d-%010llu.json", static_cast<long long>(now_ms()), int(getpid() % 1000000),
                  static_cast<unsigned long long>(++sequence_));
  }
  write_file_atomic(dir / name, nlohmann::json{{"body", body}, {"attributes", attributes}}.dump());
}

namespace {

std::vector<fs::path> messages_in(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->path().extension() == ".json") files.push_back(it->path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

std::vector<QueueMessage> LocalQueues::receive(const std::string& queue, unsigned max, bool keep) const {
  check_queue_name(queue);
  std::vector<QueueMessage> out;
  for (const auto& file : messages_in(dir_ / queue)) {
    if (out.size() >= max) break;
    fs::path read_from = file;
    if (!keep) {
      read_from += ".claimed";
      std::error_code ec;
      fs::rename(file, read_from, ec);
      if (ec) continue;  // another receiver claimed it first
    }
    std::ifstream f(read_from, std::ios::binary);
    QueueMessage m;
    m.id = file.stem().string();
    std::string text(std::istreambuf_iterator<char>(f), {});
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_object() && j.contains("body") && j["body"].is_string()) {
      m.body = j["body"].get<std::string>();
      if (j.contains("attributes") && j["attributes"].is_object())
        for (const auto& [k, v] : j["attributes"].items())
          if (v.is_string()) m.attributes[k] = v.get<std::string>();
    } else {
      m.body = std::move(text);  // written by hand: the whole file is the body
    }
    m.sent_ms = std::strtoll(m.id.c_str(), nullptr, 10);
    out.push_back(std::move(m));
    if (!keep) {
      std::error_code ec;
      fs::remove(read_from, ec);
    }
  }
  return out;
}

std::vector<std::pair<std::string, size_t>> LocalQueues::list() const {
  std::vector<std::pair<std::string, size_t>> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir_, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->is_directory()) out.emplace_back(it->path().filename().string(), messages_in(it->path()).size());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace thaw::engine
