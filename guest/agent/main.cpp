// thaw-agent: PID 1 of a thaw microVM. Sets the system up, runs the Lambda Runtime API for the
// function's runtime, starts the runtime, and relays between it and the host over /dev/hvc0.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "guest/agent/host_link.h"
#include "guest/agent/kernel_log.h"
#include "guest/agent/log_relay.h"
#include "guest/agent/network_setup.h"
#include "guest/agent/runtime_process.h"
#include "guest/agent/system_setup.h"
#include "restore-hooks/guest_reseed.h"
#include "runtime-api/runtime_api_server.h"

namespace thaw::agent {
namespace {

constexpr uint16_t kRuntimeApiPort = 9001;
// What Linux's add_vmfork_randomness() logs once the VM Generation ID change has reseeded the CRNG.
constexpr std::string_view kVmForkReseed = "crng reseeded due to virtual machine fork";

double now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

void console(const std::string& msg) {
  // The kernel console (serial) reaches the host's log even when the channel is broken.
  std::fprintf(stderr, "thaw-agent: %s\n", msg.c_str());
}

UniqueFd open_channel(const char* path) {
  for (int i = 0; i < 500; ++i) {
    int fd = ::open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0) {
      termios t{};
      if (::tcgetattr(fd, &t) == 0) {
        ::cfmakeraw(&t);
        ::tcsetattr(fd, TCSANOW, &t);
      }
      return UniqueFd(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw_errno("open", path);
}

// The runtime's environment as Lambda makes it: defaults the function's own variables may
// replace (PATH, LD_LIBRARY_PATH, LANG, HOME), then the function's variables, then the reserved
// ones, which nothing replaces (the control plane refuses most of them; TZ is taken back here).
std::vector<std::string> runtime_environment(const channel::Config& s) {
  std::map<std::string, std::string> env = {
      {"PATH", "/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin"},
      {"LD_LIBRARY_PATH", "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"},
      {"LANG", "en_US.UTF-8"},
      {"HOME", "/tmp"}};
  for (const auto& [k, v] : s.environment) env[k] = v;
  auto reserve = [&](const char* k, const std::string& v) { env[k] = v; };
  reserve("TZ", ":UTC");
  reserve("_HANDLER", s.handler);
  reserve("LAMBDA_TASK_ROOT", "/var/task");
  reserve("LAMBDA_RUNTIME_DIR", "/var/runtime");
  reserve("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:" + std::to_string(kRuntimeApiPort));
  reserve("AWS_LAMBDA_FUNCTION_NAME", s.function_name);
  reserve("AWS_LAMBDA_FUNCTION_VERSION", s.function_version);
  reserve("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", std::to_string(s.memory_mb));
  reserve("AWS_LAMBDA_LOG_GROUP_NAME", s.log_group_name);
  reserve("AWS_LAMBDA_LOG_STREAM_NAME", s.log_stream_name);
  reserve("AWS_REGION", s.region);
  reserve("AWS_DEFAULT_REGION", s.region);
  reserve("AWS_EXECUTION_ENV", "AWS_Lambda_thaw");  // a managed runtime's launcher names itself
  reserve("AWS_LAMBDA_INITIALIZATION_TYPE", s.initialization_type);
  env.erase("_X_AMZN_TRACE_ID");  // set per invocation by the runtime
  env.erase(kTelemetryFdVariable);
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

// Where the agent is in the sandbox's life. The checkpoint is a phase of its own: the host may
// pause the guest only once the agent has acknowledged it, and only a checkpointed agent takes
// an after-restore.
enum class Phase {
  kInit,           // the runtime runs its INIT
  kAtCheckpoint,   // a snap-start runtime waits in restore/next: the host may snapshot
  kCheckpointed,   // quiesced and acknowledged: the host pauses, snapshots, later restores
  kRestoring,      // after-restore hooks applied, the runtime's own hooks run
  kServing,        // invocations
};

std::string_view phase_name(Phase p) {
  switch (p) {
    case Phase::kInit: return "INIT";
    case Phase::kAtCheckpoint: return "at-checkpoint";
    case Phase::kCheckpointed: return "checkpointed";
    case Phase::kRestoring: return "restoring";
    case Phase::kServing: return "serving";
  }
  return "unknown";
}

class Agent {
 public:
  // kernel_log: where the kernel announces its VMGenID reseed; it is waited for only when this
  // guest's kernel has its vmgenid driver bound.
  Agent(HostLink& link, KernelLog& kernel_log, bool vmgenid_bound, channel::Config setup)
      : link_(link), setup_(std::move(setup)), kernel_log_(kernel_log), vmgenid_bound_(vmgenid_bound) {}

  // Sets up the sandbox's network card; false (an InitError sent) when it cannot.
  bool network_up() {
    try {
      bring_up_network(setup_.net_address, setup_.net_prefix, setup_.net_gateway);
      console("network: eth0 " + setup_.net_address + "/" + std::to_string(setup_.net_prefix) + " via " +
              setup_.net_gateway);
      return true;
    } catch (const std::exception& e) {
      std::string message = std::string("the sandbox's network could not be set up: ") + e.what();
      link_.send(channel::InitError{
          "Sandbox.NetworkError",
          nlohmann::json{{"errorMessage", message}, {"errorType", "Sandbox.NetworkError"}}.dump()});
      return false;
    }
  }

  int run() {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    ::sigprocmask(SIG_BLOCK, &mask, nullptr);
    UniqueFd sigfd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sigfd) throw_errno("signalfd", "SIGCHLD");

    runtime_api::RuntimeApiServer::Options options;
    options.port = kRuntimeApiPort;
    options.snap_start = setup_.initialization_type == "snap-start";
    runtime_api::RuntimeApiServer api(options);
    api.start();
    if (!setup_.net_address.empty() && !network_up()) return wait_for_shutdown();
    std::string bootstrap = find_bootstrap();
    if (bootstrap.empty()) {
      link_.send(channel::InitError{"Runtime.InvalidEntrypoint",
                                    R"({"errorMessage":"no bootstrap: none of /var/runtime/bootstrap, /var/task/bootstrap, /opt/bootstrap is executable","errorType":"Runtime.InvalidEntrypoint"})"});
      return wait_for_shutdown();
    }
    init_start_ms_ = now_ms();
    RuntimeProcess runtime(bootstrap, runtime_environment(setup_), "/var/task");
    RuntimeOutput output(link_, runtime);

    for (;;) {
      std::vector<pollfd> fds{{link_.fd(), POLLIN, 0}, {api.event_fd(), POLLIN, 0}, {sigfd.get(), POLLIN, 0}};
      output.add_pollfds(fds);
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        throw_errno("poll", "agent loop");
      }
      output.pump(std::span(fds).subspan(3));
      if (fds[2].revents) reap(sigfd.get(), runtime);
      if (fds[1].revents) {
        while (auto e = api.poll_event()) on_runtime_event(*e);
      }
      if (fds[0].revents) {
        for (auto& m : link_.read_available()) {
          if (std::holds_alternative<channel::Shutdown>(m)) {
            shut_down_runtime(runtime, output, sigfd.get());
            return 0;
          }
          on_host_message(m, api);
        }
      }
      if (!runtime.running() && !output.open()) {
        link_.send(channel::RuntimeExit{runtime.describe_exit()});
        return wait_for_shutdown();
      }
    }
  }

 private:
  void on_host_message(channel::HostMessage& m, runtime_api::RuntimeApiServer& api) {
    if (auto* inv = std::get_if<channel::Invoke>(&m)) {
      invoke(*inv, api);
    } else if (auto* bc = std::get_if<channel::BeforeCheckpoint>(&m); bc && phase_ == Phase::kAtCheckpoint) {
      prepare_checkpoint(bc->min_uptime_ms);
      phase_ = Phase::kCheckpointed;
      link_.send(channel::BeforeCheckpointAck{});
    } else if (auto* ar = std::get_if<channel::AfterRestore>(&m); ar && phase_ == Phase::kCheckpointed) {
      after_restore(*ar);
      phase_ = Phase::kRestoring;
      api.complete_restore();
    } else {
      console("ignored the host's " + std::string(channel::name_of(m)) + " message while " +
              std::string(phase_name(phase_)));
    }
  }

  void invoke(channel::Invoke& inv, runtime_api::RuntimeApiServer& api) {
    max_memory_ = guest_memory_in_use();
    runtime_api::Invocation i;
    i.request_id = inv.request_id;
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    i.deadline_ms = int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000 + inv.time_left_ms;
    i.function_arn = inv.function_arn;
    i.trace_id = inv.trace_id;
    i.client_context = inv.client_context;
    i.cognito_identity = inv.cognito_identity;
    i.tenant_id = inv.tenant_id;
    i.payload = std::move(inv.payload);
    try {
      api.submit(std::move(i));
    } catch (const std::exception& e) {
      link_.send(channel::FunctionError{
          inv.request_id, "Runtime.Unavailable",
          max_memory_, nlohmann::json{{"errorMessage", e.what()}, {"errorType", "Runtime.Unavailable"}}.dump()});
    }
  }

  // The guest's last moments before the host pauses it. The CRNG is reseeded now, so that every
  // clone starts from one CRNG state whose next scheduled reseed is as far off as the kernel
  // allows: Linux 6.1 reseeds on the first draw after max(1 s, uptime / 2) in its first two
  // minutes (60 s afterwards), so a clone cannot reseed on its own before its uptime is twice
  // the checkpoint's. A host that must rule that out for a restore of up to T (the uniqueness
  // controls) asks for min_uptime_ms > T and the checkpoint waits until then.
  void prepare_checkpoint(int64_t min_uptime_ms) {
    double wait = double(min_uptime_ms) - now_ms();
    if (wait > 0) std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(wait * 1000)));
    ::sync();
    try {
      hooks::reseed_kernel_crng_now();
    } catch (const std::exception& e) {
      console(e.what());
    }
    unsigned char discard[16];
    [[maybe_unused]] ssize_t drawn = ::getrandom(discard, sizeof discard, GRND_NONBLOCK);
    checkpoint_uptime_ms_ = now_ms();
    kernel_log_.mark();
  }

  // The kernel's own layer first: with a changed generation id, its reseed is on its way
  // (interrupt, ACPI notify, driver); the host's entropy and the probe come after it.
  void after_restore(const channel::AfterRestore& ar) {
    probe_ = {};
    if (ar.vmgenid_changed && vmgenid_bound_) {
      probe_.vmgenid_reseeded = kernel_log_.wait_for(kVmForkReseed, std::chrono::seconds(5));
      if (!probe_.vmgenid_reseeded) console("the kernel did not report its VMGenID reseed within 5 s");
    }
    if (!ar.entropy.empty())
      hooks::reseed_kernel_crng({reinterpret_cast<const std::byte*>(ar.entropy.data()), ar.entropy.size()});
    if (ar.wall_clock_ns) hooks::set_wall_clock(ar.wall_clock_ns);
    if (!ar.sandbox_id.empty()) set_hostname(ar.sandbox_id.substr(0, 63));
    probe_.kernel_random = kernel_random_probe();
    probe_.checkpoint_uptime_ms = checkpoint_uptime_ms_;
    probe_.probe_uptime_ms = now_ms();
    restore_release_ms_ = now_ms();
  }

  void on_runtime_event(const runtime_api::RuntimeEvent& e) {
    using Kind = runtime_api::RuntimeEvent::Kind;
    max_memory_ = std::max<uint64_t>(max_memory_, guest_memory_in_use());
    switch (e.kind) {
      case Kind::kInitDone:
        phase_ = Phase::kServing;
        link_.send(channel::InitDone{now_ms() - init_start_ms_});
        break;
      case Kind::kInitError:
        link_.send(channel::InitError{e.error_type, e.body});
        break;
      case Kind::kRestoreReached:
        phase_ = Phase::kAtCheckpoint;
        link_.send(channel::CheckpointReady{now_ms() - init_start_ms_});
        break;
      case Kind::kRestoreDone: {
        phase_ = Phase::kServing;
        auto done = probe_;
        done.hooks_ms = now_ms() - restore_release_ms_;
        link_.send(std::move(done));
        break;
      }
      case Kind::kRestoreError:
        link_.send(channel::RestoreError{e.error_type, e.body});
        break;
      case Kind::kInvocationResponse:
        link_.send(channel::Response{e.request_id, max_memory_, e.body});
        break;
      case Kind::kInvocationError:
        link_.send(channel::FunctionError{e.request_id, e.error_type.empty() ? "Unhandled" : e.error_type,
                                          max_memory_, e.body});
        break;
    }
  }

  // The first bytes the kernel's CRNG gives once the restore hooks are applied, before anything
  // else in the clone draws from it: the host compares clones with it. Read at this instant
  // because later on the kernel also reseeds itself from interrupt timing now and then.
  static std::string kernel_random_probe() {
    unsigned char b[16];
    if (::getrandom(b, sizeof b, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof b)) return {};
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (unsigned char c : b) s += hex[c >> 4], s += hex[c & 15];
    return s;
  }

  // SHUTDOWN: SIGTERM to the runtime's group and up to 2 s for it to end, its output still
  // forwarded (what a SIGTERM handler prints reaches the log); then SIGKILL to what is left.
  void shut_down_runtime(RuntimeProcess& runtime, RuntimeOutput& output, int sigfd) {
    runtime.signal_group(SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(2000);
    while (runtime.running() || output.open()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      std::vector<pollfd> fds{{sigfd, POLLIN, 0}};
      output.add_pollfds(fds);
      if (::poll(fds.data(), fds.size(), int(left.count())) < 0 && errno != EINTR) break;
      output.pump(std::span(fds).subspan(1));
      if (fds[0].revents) reap(sigfd, runtime);
    }
    runtime.signal_group(SIGKILL);
  }

  // PID 1 reaps every orphan, and notes the runtime's own exit.
  void reap(int sigfd, RuntimeProcess& runtime) {
    signalfd_siginfo si;
    while (::read(sigfd, &si, sizeof si) == sizeof si) {
    }
    int st = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &st, WNOHANG)) > 0)
      if (pid == runtime.pid()) runtime.mark_exited(st);
  }

  int wait_for_shutdown() {
    for (;;) {
      pollfd p{link_.fd(), POLLIN, 0};
      if (::poll(&p, 1, -1) < 0 && errno != EINTR) return 1;
      for (auto& m : link_.read_available())
        if (std::holds_alternative<channel::Shutdown>(m)) return 0;
    }
  }

  HostLink& link_;
  channel::Config setup_;
  KernelLog& kernel_log_;
  bool vmgenid_bound_;
  Phase phase_ = Phase::kInit;
  double init_start_ms_ = 0;
  double restore_release_ms_ = 0;
  double checkpoint_uptime_ms_ = 0;
  channel::RestoreDone probe_;
  uint64_t max_memory_ = 0;
};

// Linux's vmgenid driver has claimed the VMM's VMGenID device (sysfs names it by its ACPI id).
bool vmgenid_bound() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/bus/acpi/drivers/vmgenid", ec))
    if (e.path().filename().string().rfind("THAWVGID", 0) == 0) return true;
  return false;
}

void power_off() {
  ::sync();
  ::reboot(RB_POWER_OFF);
  ::_exit(0);
}

}  // namespace
}  // namespace thaw::agent

int main() {
  using namespace thaw::agent;
  const bool pid1 = ::getpid() == 1;
  int rc = 1;
  bool vmgenid = false;
  try {
    if (pid1) {
      mount_filesystems();
      for (const auto& f : load_modules(read_module_list("/etc/thaw/modules"))) console("module " + f);
      bring_up_loopback();
      vmgenid = vmgenid_bound();
      console(std::string("VM Generation ID device: ") + (vmgenid ? "bound" : "not bound (no kernel reseed on restore)"));
    }
    KernelLog kernel_log;
    HostLink link(open_channel(pid1 ? "/dev/hvc0" : (std::getenv("THAW_AGENT_CHANNEL") ?: "/dev/hvc0")));
    link.send(thaw::channel::AgentReady{});
    std::optional<thaw::channel::Config> setup;
    while (!setup) {
      pollfd p{link.fd(), POLLIN, 0};
      ::poll(&p, 1, -1);
      for (auto& m : link.read_available())
        if (auto* s = std::get_if<thaw::channel::Config>(&m)) setup = std::move(*s);
    }
    if (!setup->sandbox_id.empty()) set_hostname(setup->sandbox_id.substr(0, 63));
    if (pid1 && setup->wall_clock_ns) thaw::hooks::set_wall_clock(setup->wall_clock_ns);
    console("starting " + setup->function_name + " (" + setup->initialization_type + ")");
    rc = Agent(link, kernel_log, vmgenid, std::move(*setup)).run();
  } catch (const std::exception& e) {
    console(std::string("fatal: ") + e.what());
  }
  if (pid1) power_off();
  return rc;
}
