// thaw capture --pid PID --out DIR: snapshots a live process's memory into a page store (each
// readable mapping one region at its virtual address). The process is stopped (SIGSTOP) while
// its memory is read, so the image is consistent, and continued afterwards.
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <memory>
#include <string>

#include "base/error.h"
#include "cli/commands.h"
#include "snapshot/process_memory.h"

namespace thaw::cli {

namespace {

// Stops a process for its lifetime (SIGSTOP, then SIGCONT), waiting until it is really stopped.
class ProcessFreeze {
 public:
  explicit ProcessFreeze(pid_t pid) : pid_(pid) {
    if (::kill(pid_, SIGSTOP) != 0) throw_errno("kill(SIGSTOP)", "pid " + std::to_string(pid_));
    // /proc/PID/stat's state becomes 'T' once the stop is delivered.
    for (int i = 0; i < 1000 && state() != 'T' && state() != 't'; ++i) ::usleep(1000);
  }
  ~ProcessFreeze() { ::kill(pid_, SIGCONT); }
  ProcessFreeze(const ProcessFreeze&) = delete;
  ProcessFreeze& operator=(const ProcessFreeze&) = delete;

 private:
  char state() const {
    std::string file = "/proc/" + std::to_string(pid_) + "/stat";
    FILE* f = std::fopen(file.c_str(), "r");
    if (!f) return '?';
    char buf[512] = {};
    size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    std::string s(buf, n);
    auto close = s.rfind(')');
    return close != std::string::npos && close + 2 < s.size() ? s[close + 2] : '?';
  }
  pid_t pid_;
};

double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

}  // namespace

Command add_capture_command(CLI::App& app) {
  auto* sub = app.add_subcommand("capture", "snapshot a running process's memory into a page store");
  struct Args {
    int pid = 0;
    std::string out;
    std::string store;
    uint32_t pages_per_chunk = snapshot::WriteOptions{}.pages_per_chunk;
    unsigned threads = 0;
    bool no_freeze = false;
  };
  auto args = std::make_shared<Args>();
  sub->add_option("--pid", args->pid, "process to capture")->required();
  sub->add_option("--out", args->out, "snapshot directory to write")->required();
  sub->add_option("--store", args->store, "shared chunk store directory (default: inside the snapshot)");
  sub->add_option("--pages-per-chunk", args->pages_per_chunk, "pages per chunk")->capture_default_str();
  sub->add_option("--threads", args->threads, "compression threads (0 = all cores)")->capture_default_str();
  sub->add_flag("--no-freeze", args->no_freeze, "do not stop the process while reading its memory");
  return {sub, false, [args]() -> int {
            snapshot::ProcessImage image;
            {
              std::unique_ptr<ProcessFreeze> freeze;
              if (!args->no_freeze) freeze = std::make_unique<ProcessFreeze>(args->pid);
              std::fprintf(stderr, "capture: reading the memory of pid %d\n", args->pid);
              int last_pct = -1;
              image = snapshot::read_process_memory(args->pid, [&](uint64_t done, uint64_t total) {
                int pct = total ? static_cast<int>(done * 100 / total) : 100;
                if (pct / 10 != last_pct / 10) {
                  std::fprintf(stderr, "capture: read %.1f of %.1f MiB (%d%%)\n", mib(done), mib(total), pct);
                  last_pct = pct;
                }
              });
            }
            std::fprintf(stderr, "capture: %zu mappings read (%llu pages unreadable, saved as zeros); writing %s\n",
                         image.regions.size(), static_cast<unsigned long long>(image.unreadable_pages),
                         args->out.c_str());
            snapshot::WriteOptions opt;
            opt.pages_per_chunk = args->pages_per_chunk;
            opt.threads = args->threads;
            opt.store_dir = args->store;
            opt.metadata = {{"source", "process capture"}, {"pid", args->pid}, {"mappings", image.regions.size()}};
            auto s = snapshot::write_page_store(args->out, image.regions, opt);
            uint64_t nonzero = (s.pages - s.zero_pages) * 4096;
            std::printf(
                "captured pid %d into %s: %llu pages (%.1f MiB), %llu zero, %llu chunks, %llu stored, %llu dedupe hits, "
                "%.1f MiB stored (%.3f of non-zero bytes) in %.3f s (%.0f MiB/s)\n",
                args->pid, args->out.c_str(), static_cast<unsigned long long>(s.pages), mib(s.raw_bytes),
                static_cast<unsigned long long>(s.zero_pages), static_cast<unsigned long long>(s.chunks),
                static_cast<unsigned long long>(s.stored_chunks), static_cast<unsigned long long>(s.dedupe_hits),
                mib(s.stored_bytes), nonzero ? static_cast<double>(s.stored_bytes) / static_cast<double>(nonzero) : 0.0,
                s.seconds, s.seconds > 0 ? mib(s.raw_bytes) / s.seconds : 0.0);
            return 0;
          }};
}

}  // namespace thaw::cli
