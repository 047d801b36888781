#include "cli/qemu_microvm.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <vector>

#include "base/error.h"

namespace thaw::cli {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// A connected stream socket to `path`; invalid while nothing listens there yet.
UniqueFd connect_unix(const std::filesystem::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.string().size() >= sizeof addr.sun_path) throw Error("qemu: socket path too long: " + path.string());
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("socket", "qemu");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) return UniqueFd();
  return fd;
}

// Waits until `fd` is readable; false when `limit` passes first.
bool readable(int fd, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) throw_errno("poll", "qemu");
  }
}

std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

}  // namespace

QemuMicrovm::QemuMicrovm(const QemuMicrovmConfig& c, bool incoming, std::chrono::milliseconds limit) : dir_(c.dir) {
  std::filesystem::create_directories(dir_);
  auto qmp_path = dir_ / "qmp.sock", serial_path = dir_ / "serial.sock";
  std::filesystem::remove(qmp_path);
  std::filesystem::remove(serial_path);
  std::vector<std::string> argv{c.qemu,   "-M",        "microvm",   "-enable-kvm", "-cpu",      "host",
                                "-m",     std::to_string(c.mem_mib), "-smp",       "1",         "-kernel",
                                c.kernel, "-initrd",   c.initrd,    "-append",     c.cmdline,   "-nodefaults",
                                "-no-user-config", "-display", "none", "-no-reboot",
                                "-serial", "unix:" + serial_path.string() + ",server=on,wait=off",
                                "-qmp",    "unix:" + qmp_path.string() + ",server=on,wait=off"};
  if (incoming) argv.insert(argv.end(), {"-incoming", "defer"});
  process_ = std::make_unique<ChildProcess>(argv, (dir_ / "qemu.log").string(), SIGKILL, std::chrono::seconds(5));
  process_->wait_until_up("QEMU", limit, [&] {
    if (!qmp_) qmp_ = connect_unix(qmp_path);
    if (!console_) console_ = connect_unix(serial_path);
    return qmp_ && console_;
  });
  json greeting = read_qmp_message();
  if (!greeting.contains("QMP")) throw Error("qemu: no QMP greeting: " + greeting.dump());
  command({{"execute", "qmp_capabilities"}});
}

QemuMicrovm::~QemuMicrovm() = default;

json QemuMicrovm::read_qmp_message() {
  auto deadline = Clock::now() + std::chrono::seconds(120);
  size_t nl;
  while ((nl = qmp_buffer_.find('\n')) == std::string::npos) {
    if (!readable(qmp_.get(), deadline)) throw Error("qemu: QMP did not answer in 120 s; its log:\n" + log_tail());
    char buf[4096];
    ssize_t n = ::read(qmp_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("read", "qemu QMP");
    if (n == 0) throw Error("qemu: QMP closed (QEMU ended?); its log:\n" + log_tail());
    qmp_buffer_.append(buf, static_cast<size_t>(n));
  }
  std::string line = qmp_buffer_.substr(0, nl);
  qmp_buffer_.erase(0, nl + 1);
  try {
    return json::parse(line);
  } catch (const json::exception& e) {
    throw Error("qemu: a QMP message that is not JSON: " + line);
  }
}

json QemuMicrovm::command(const json& cmd) {
  std::string text = cmd.dump() + "\n";
  for (size_t done = 0; done < text.size();) {
    ssize_t n = ::write(qmp_.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("write", "qemu QMP");
    done += static_cast<size_t>(n);
  }
  for (;;) {
    json m = read_qmp_message();
    if (m.contains("event")) continue;
    if (m.contains("error"))
      throw Error("qemu: " + cmd.value("execute", std::string("?")) + ": " + m["error"].value("desc", m.dump()));
    if (m.contains("return")) return m["return"];
  }
}

bool QemuMicrovm::wait_for_serial(std::string_view text, std::chrono::milliseconds limit) {
  serial_.clear();
  auto deadline = Clock::now() + limit;
  while (serial_.find(text) == std::string::npos) {
    if (!readable(console_.get(), deadline)) return false;
    char buf[4096];
    ssize_t n = ::read(console_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    serial_.append(buf, static_cast<size_t>(n));
  }
  return true;
}

void QemuMicrovm::save(const std::filesystem::path& file, std::chrono::milliseconds limit) {
  // No bandwidth cap (QEMU's default is 128 MiB/s): the file is written as fast as it can be.
  command({{"execute", "migrate-set-parameters"}, {"arguments", {{"max-bandwidth", uint64_t{1} << 40}}}});
  command({{"execute", "migrate"}, {"arguments", {{"uri", "exec:cat > " + quoted(file)}}}});
  auto deadline = Clock::now() + limit;
  for (;;) {
    json s = command({{"execute", "query-migrate"}});
    std::string status = s.value("status", "");
    if (status == "completed") return;
    if (status == "failed" || status == "cancelled")
      throw Error("qemu: saving the VM " + status + ": " + s.value("error-desc", std::string("no reason given")));
    if (Clock::now() > deadline) throw Error("qemu: saving the VM took longer than its limit (status " + status + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void QemuMicrovm::restore_from(const std::filesystem::path& file) {
  command({{"execute", "migrate-incoming"}, {"arguments", {{"uri", "exec:cat " + quoted(file)}}}});
}

}  // namespace thaw::cli
