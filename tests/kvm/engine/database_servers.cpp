#include "tests/kvm/engine/database_servers.h"

#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/ip_interface.h"
#include "base/unique_fd.h"
#include "guest/image/host_command.h"

namespace thaw::test {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// Runs a client to completion; throws with its output when it fails.
std::string run_client(const std::vector<std::string>& argv) {
  auto r = image::run_host_command(argv);
  if (r.exit_status != 0) throw Error(argv[0] + " exited with " + std::to_string(r.exit_status) + ": " + r.out);
  while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

// A software CPU starts PostgreSQL slowly.
constexpr std::chrono::milliseconds kStartLimit = 3min;

// `dir`/`name`, `dir` made first.
std::string log_file(const fs::path& dir, const char* name) {
  fs::create_directories(dir);
  return (dir / name).string();
}

// Whether a TCP connect to the server succeeds (before its client is asked, which would print
// its own "connection refused" while the server starts).
bool accepts_connections(const std::string& address, uint16_t port) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = ipv4_endpoint(address, port);
  return ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

bool succeeds(const std::vector<std::string>& argv) { return image::run_host_command(argv).exit_status == 0; }

// The bin directory of the newest PostgreSQL Debian has installed (/usr/lib/postgresql/N/bin).
fs::path postgres_bin() {
  int newest = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    std::string version = e.path().filename().string();
    if (fs::exists(e.path() / "bin/postgres") && version.find_first_not_of("0123456789") == std::string::npos)
      newest = std::max(newest, std::stoi(version));
  }
  if (newest == 0) throw Error("PostgreSQL is not installed (/usr/lib/postgresql/N/bin/postgres): scripts/install-deps.sh");
  return fs::path("/usr/lib/postgresql") / std::to_string(newest) / "bin";
}

// argv run as the postgres user (PostgreSQL refuses to run as root).
std::vector<std::string> as_postgres(std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"});
  return argv;
}

}  // namespace

RedisServer::RedisServer(const std::string& address, uint16_t port, const fs::path& dir)
    : address_(address),
      port_(std::to_string(port)),
      process_({"/usr/bin/redis-server", "--bind", address, "--port", port_, "--save", "", "--appendonly", "no",
                "--protected-mode", "no", "--dir", dir.string()},
               log_file(dir, "redis.log")) {
  process_.wait_until_up("redis-server", kStartLimit, [&] {
    if (!accepts_connections(address_, port)) return false;
    auto r = image::run_host_command({"/usr/bin/redis-cli", "-h", address_, "-p", port_, "PING"});
    return r.exit_status == 0 && r.out.starts_with("PONG");
  });
}

std::string RedisServer::command(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"/usr/bin/redis-cli", "-h", address_, "-p", port_};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_client(argv);
}

std::vector<std::string> RedisServer::client_names() const {
  std::vector<std::string> names;
  std::istringstream lines(command({"CLIENT", "LIST"}));
  for (std::string line; std::getline(lines, line);) {
    auto at = line.find(" name=");
    if (at == std::string::npos) continue;
    std::string name = line.substr(at + 6, line.find(' ', at + 6) - at - 6);
    if (!name.empty()) names.push_back(name);
  }
  return names;
}

PostgresServer::PostgresServer(const std::string& address, uint16_t port, const fs::path& dir)
    : address_(address), port_(std::to_string(port)), dir_(dir), bin_(postgres_bin()) {
  const fs::path& bin = bin_;
  const passwd* pw = ::getpwnam("postgres");
  if (!pw) throw Error("no user postgres (the postgresql package makes it)");
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) throw_errno("chown", dir_.string());
  auto init = image::run_host_command(as_postgres({(bin / "initdb").string(), "-D", (dir_ / "data").string(), "-A",
                                                   "trust", "-U", "postgres", "--no-sync", "--locale=C", "-E", "UTF8"}));
  if (init.exit_status != 0) throw Error("initdb failed: " + init.out);
  std::ofstream(dir_ / "data/pg_hba.conf", std::ios::app) << "host all all 0.0.0.0/0 trust\n";
  // SIGINT: PostgreSQL's fast shutdown, which ends the sessions of clients that went away
  // without a word (a sandbox's VM that was killed) instead of waiting for them.
  process_ = std::make_unique<ChildProcess>(
      as_postgres({(bin / "postgres").string(), "-D", (dir_ / "data").string(), "-p", port_, "-c",
                   "listen_addresses=" + address_, "-c", "unix_socket_directories=" + dir_.string(), "-c",
                   "fsync=off", "-c", "shared_buffers=16MB", "-c", "max_connections=20"}),
      (dir_ / "postgres.log").string(), SIGINT);
  process_->wait_until_up("postgres", kStartLimit, [&] {
    return accepts_connections(address_, port) && succeeds({(bin / "pg_isready").string(), "-q", "-h", address_, "-p", port_});
  });
}

PostgresServer::~PostgresServer() {
  process_.reset();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string PostgresServer::query(const std::string& sql) const {
  return run_client({(bin_ / "psql").string(), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                     address_, "-p", port_, "-U", "postgres", "-d", "postgres", "-c", sql});
}

std::string PostgresServer::connection_string() const {
  return "host=" + address_ + " port=" + port_ + " user=postgres dbname=postgres";
}

}  // namespace thaw::test
