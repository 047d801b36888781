// thaw queue list | receive NAME [--max N] [--keep] [--json]: the local queues in the data
// directory that asynchronous invocations' destinations (and dead-letter targets) write to,
// arn:thaw:queue:REGION:ACCOUNT:NAME or arn:aws:sqs:REGION:ACCOUNT:NAME. Reads the files
// directly and takes no lock: it runs beside the `thaw serve` that writes them.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/global_options.h"
#include "engine/local_queues.h"

namespace thaw::cli {
namespace {

struct QueueArgs {
  std::string name;
  unsigned max = 10;
  bool keep = false, json = false;
};

engine::LocalQueues queues() { return engine::LocalQueues(std::filesystem::path(resolved_data_dir()) / "queues"); }

int run_list(const QueueArgs& a) {
  auto all = queues().list();
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& [name, n] : all) j.push_back({{"name", name}, {"messages", n}});
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  for (const auto& [name, n] : all) std::printf("%-40s %zu message(s)\n", name.c_str(), n);
  if (all.empty()) std::printf("no queues in %s\n", resolved_data_dir().c_str());
  return 0;
}

int run_receive(const QueueArgs& a) {
  engine::check_queue_name(a.name);
  for (const auto& m : queues().receive(a.name, a.max, a.keep)) {
    if (a.json)  // one message a line; its body (a destination record) is JSON
      std::printf("%s\n", nlohmann::json{{"MessageId", m.id},
                                          {"SentTimestamp", m.sent_ms},
                                          {"Body", m.body},
                                          {"MessageAttributes", m.attributes}}
                              .dump()
                              .c_str());
    else
      std::printf("%s\n", m.body.c_str());
  }
  return 0;
}

}  // namespace

std::vector<Command> add_queue_commands(CLI::App& app) {
  auto a = std::make_shared<QueueArgs>();
  auto* queue = app.add_subcommand("queue", "local queues: where Event invocations' destinations deliver (DATA/queues)");
  queue->require_subcommand(1);
  auto* list = queue->add_subcommand("list", "the queues, with how many messages each holds");
  list->add_flag("--json", a->json, "as JSON");
  auto* receive = queue->add_subcommand("receive", "print a queue's oldest messages, removing them (unless --keep)");
  receive->add_option("name", a->name, "the queue's name (the last part of its ARN)")->required();
  receive->add_option("--max", a->max, "at most this many messages")->capture_default_str()->check(CLI::Range(1u, 1000000u));
  receive->add_flag("--keep", a->keep, "leave them in the queue");
  receive->add_flag("--json", a->json, "one JSON object a line: MessageId, SentTimestamp (ms), Body, MessageAttributes");
  std::vector<Command> out{{list, false, [a] { return run_list(*a); }}, {receive, false, [a] { return run_receive(*a); }}};
  for (auto& c : out) c.uses_data_dir = true;
  return out;
}

}  // namespace thaw::cli
