#pragma once
// Debian's redis-server and PostgreSQL, started by a test on an address of its own network
// namespace and stopped when the object goes; queried with their own command-line clients
// (redis-cli, psql), so what a test asserts is what the servers themselves say.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/child_process.h"

namespace thaw::test {

// redis-server without persistence, protected mode off (the sandboxes connect from their
// uplinks' addresses).
class RedisServer {
 public:
  RedisServer(const std::string& address, uint16_t port, const std::filesystem::path& dir);
  // redis-cli's output for one command, e.g. {"CLIENT", "LIST"}; trailing newline removed.
  std::string command(const std::vector<std::string>& args) const;
  // The names of the connected clients (CLIENT LIST's name=), unnamed ones left out.
  std::vector<std::string> client_names() const;

 private:
  std::string address_, port_;
  ChildProcess process_;
};

// A PostgreSQL cluster made for the test (initdb in `dir`, trust authentication from any
// address), its postgres running as the `postgres` user (it refuses root).
class PostgresServer {
 public:
  PostgresServer(const std::string& address, uint16_t port, const std::filesystem::path& dir);
  ~PostgresServer();
  // psql's unaligned, tuples-only output for one statement ("a|b" per row, rows by newline).
  std::string query(const std::string& sql) const;
  // A libpq connection string for the database `postgres` as user `postgres`.
  std::string connection_string() const;

 private:
  std::string address_, port_;
  std::filesystem::path dir_, bin_;  // bin_: PostgreSQL's programs
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace thaw::test
