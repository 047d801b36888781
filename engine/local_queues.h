#pragma once
// Local durable queues: the destinations of asynchronous invocations that name a queue
// (arn:thaw:queue:REGION:ACCOUNT:NAME, or an SQS ARN arn:aws:sqs:REGION:ACCOUNT:NAME, which
// thaw keeps locally). A directory per queue (DATA/queues/NAME/), a file per message named by
// the time it was sent and a sequence, so names sort in the order sent; each written atomically,
// a JSON object of the body and its attributes (as SQS's MessageAttributes: a dead letter's
// RequestID, ErrorCode and ErrorMessage).
// A receiver (`thaw queue receive`, beside the engine: it takes no lock) claims a message by
// renaming its file before reading it, so two receivers never both get one.
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace thaw::engine {

struct QueueMessage {
  std::string id;  // the file's name, unique in its queue
  std::string body;
  std::map<std::string, std::string> attributes;
  int64_t sent_ms = 0;
};

class LocalQueues {
 public:
  explicit LocalQueues(std::filesystem::path dir);
  // Durable when it returns (throws SystemError). The queue is created by its first message.
  void send(const std::string& queue, const std::string& body, const std::map<std::string, std::string>& attributes = {});
  // Up to `max` messages, the oldest first; removed from the queue unless `keep`.
  std::vector<QueueMessage> receive(const std::string& queue, unsigned max, bool keep) const;
  // Every queue with the number of messages in it.
  std::vector<std::pair<std::string, size_t>> list() const;

 private:
  std::filesystem::path dir_;
  std::mutex mu_;
  uint64_t sequence_ = 0;
};

// The queue an ARN names, or nullopt when it names none.
std::optional<std::string> queue_name_of_arn(std::string_view arn);
// Letters, digits, - and _, 1 to 80 (SQS's rule); else thaw::Error.
void check_queue_name(std::string_view name);

}  // namespace thaw::engine
