#include "engine/event_queue.h"

#include <algorithm>
#include <cctype>
#include <fstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "base/atomic_file.h"
#include "base/error.h"
#include "engine/function_logs.h"

namespace thaw::engine {
namespace fs = std::filesystem;

std::string to_json(const QueuedEvent& e) {
  return nlohmann::json{{"id", e.id},
                        {"function", e.function},
                        {"qualifier", e.qualifier},
                        {"payload", e.payload},
                        {"accepted_ms", e.accepted_ms},
                        {"due_ms", e.due_ms},
                        {"function_errors", e.function_errors},
                        {"deliveries", e.deliveries},
                        {"engine_errors", e.engine_errors}}
      .dump();
}

QueuedEvent queued_event_from_json(const std::string& text) {
  try {
    auto j = nlohmann::json::parse(text);
    QueuedEvent e;
    e.id = j.at("id").get<std::string>();
    e.function = j.at("function").get<std::string>();
    e.qualifier = j.at("qualifier").get<std::string>();
    e.payload = j.at("payload").get<std::string>();
    e.accepted_ms = j.at("accepted_ms").get<int64_t>();
    e.due_ms = j.at("due_ms").get<int64_t>();
    e.function_errors = j.at("function_errors").get<unsigned>();
    e.deliveries = j.at("deliveries").get<unsigned>();
    e.engine_errors = j.at("engine_errors").get<unsigned>();
    return e;
  } catch (const nlohmann::json::exception& x) {
    throw Error(std::string("not a queued event: ") + x.what());
  }
}

EventQueue::EventQueue(fs::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw SystemError("mkdir", dir_.string(), ec.value());
  remove_stale_temp_files(dir_);
  load();
}

fs::path EventQueue::file_of(const std::string& id) const {
  bool safe = !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_';
  });
  if (!safe) throw Error("event queue: request id '" + id + "' is not letters, digits, - and _");
  return dir_ / (id + ".json");
}

void EventQueue::load() {
  for (const auto& entry : fs::directory_iterator(dir_)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream f(entry.path());
    std::string text((std::istreambuf_iterator<char>(f)), {});
    try {
      auto e = queued_event_from_json(text);
      if (entry.path().stem() != e.id) throw Error("its id is not its file's name");
      index(e);
      events_[e.id] = std::move(e);
    } catch (const Error& x) {
      auto aside = entry.path();
      aside += ".corrupt";
      std::error_code ec;
      fs::rename(entry.path(), aside, ec);
      spdlog::warn("event queue: {} set aside as {}: {}", entry.path().string(), aside.string(), x.what());
    }
  }
}

void EventQueue::push(const QueuedEvent& e) {
  auto file = file_of(e.id);
  {
    std::lock_guard lock(mu_);
    if (events_.contains(e.id)) throw Error("event queue: an event with request id " + e.id + " is queued already");
  }
  write_file_atomic(file, to_json(e));
  {
    std::lock_guard lock(mu_);
    events_[e.id] = e;
    index(e);
  }
  cv_.notify_one();
}

void EventQueue::index(const QueuedEvent& e) {
  waiting_.emplace(e.due_ms, e.accepted_ms, e.id);
  by_age_.emplace(e.accepted_ms, e.id);
}

void EventQueue::unindex(const QueuedEvent& e) {
  waiting_.erase({e.due_ms, e.accepted_ms, e.id});
  by_age_.erase({e.accepted_ms, e.id});
}

std::optional<QueuedEvent> EventQueue::take() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (stopping_) return std::nullopt;
    if (waiting_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto first = waiting_.begin();
    const int64_t wait = std::get<0>(*first) - now_ms();
    if (wait <= 0) {
      const QueuedEvent& e = events_.at(std::get<2>(*first));
      waiting_.erase(first);
      return e;
    }
    cv_.wait_for(lock, std::chrono::milliseconds(wait));  // or sooner, for one pushed due earlier
  }
}

void EventQueue::retry(const QueuedEvent& e) {
  write_file_atomic(file_of(e.id), to_json(e));
  {
    std::lock_guard lock(mu_);
    auto& queued = events_.at(e.id);
    unindex(queued);
    queued = e;
    index(queued);
  }
  cv_.notify_one();
}

void EventQueue::done(const std::string& id) {
  std::error_code ec;
  fs::remove(file_of(id), ec);
  if (ec) throw SystemError("unlink", file_of(id).string(), ec.value());
  fsync_directory(dir_);
  std::lock_guard lock(mu_);
  auto it = events_.find(id);
  if (it == events_.end()) return;
  unindex(it->second);
  events_.erase(it);
}

size_t EventQueue::size() const {
  std::lock_guard lock(mu_);
  return events_.size();
}

std::optional<int64_t> EventQueue::oldest_accepted_ms() const {
  std::lock_guard lock(mu_);
  if (by_age_.empty()) return std::nullopt;
  return by_age_.begin()->first;
}

void EventQueue::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

}  // namespace thaw::engine
