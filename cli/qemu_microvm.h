#pragma once
// A QEMU microVM (-M microvm on KVM), the peer thaw's benchmarks measure themselves against,
// driven over QMP: it boots a kernel, saves the running VM to a file (migrate to
// "exec:cat > FILE", which stops the VM at the end and records that it was running) and
// restores such a file into a QEMU started with -incoming defer (migrate-incoming: the VM runs
// again as soon as its state is loaded). Its serial console and QMP are Unix sockets in a
// directory of its own; QEMU's own messages go to a log file there. Destruction kills it.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/child_process.h"
#include "base/unique_fd.h"

namespace thaw::cli {

struct QemuMicrovmConfig {
  std::string qemu = "/usr/bin/qemu-system-x86_64";
  std::string kernel, initrd, cmdline;
  uint64_t mem_mib = 256;
  std::filesystem::path dir;  // its sockets and log (created)
};

class QemuMicrovm {
 public:
  // Starts QEMU, booting the kernel or, with `incoming`, waiting for a restore; returns once its
  // QMP and serial sockets are connected. Throws thaw::Error with the end of its log otherwise.
  QemuMicrovm(const QemuMicrovmConfig& config, bool incoming, std::chrono::milliseconds limit);
  ~QemuMicrovm();
  QemuMicrovm(const QemuMicrovm&) = delete;
  QemuMicrovm& operator=(const QemuMicrovm&) = delete;

  // Reads the serial console until `text` appears in what it printed since the last call;
  // false when `limit` passes or QEMU closes it first.
  bool wait_for_serial(std::string_view text, std::chrono::milliseconds limit);
  // Saves the running VM to `file` and waits until the migration has completed.
  void save(const std::filesystem::path& file, std::chrono::milliseconds limit);
  // Starts loading `file` (a QEMU started with `incoming`); the VM runs once it is loaded.
  void restore_from(const std::filesystem::path& file);
  // What the serial console printed during the last wait_for_serial().
  const std::string& serial_output() const { return serial_; }
  std::string log_tail() const { return process_->log_tail(); }

 private:
  // Sends one command and returns its "return" member; throws on an "error" answer. Events met
  // on the way are skipped.
  nlohmann::json command(const nlohmann::json& command);
  nlohmann::json read_qmp_message();

  std::filesystem::path dir_;
  std::unique_ptr<ChildProcess> process_;
  UniqueFd qmp_, console_;
  std::string qmp_buffer_, serial_;
};

}  // namespace thaw::cli
