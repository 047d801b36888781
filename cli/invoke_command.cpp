// thaw invoke IMAGE [--payload JSON|@FILE]: a cold start of the function (boot, INIT), one
// invocation, SHUTDOWN. The response goes to stdout; the function's logs and the START / END /
// REPORT lines go to stderr, as Lambda writes them to its log stream.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <spdlog/spdlog.h>

#include "base/error.h"
#include "cli/commands.h"
#include "engine/sandbox.h"

namespace thaw::cli {
namespace {

struct InvokeArgs {
  std::string target;
  std::string payload = "{}";
  unsigned vcpus = 1;
  unsigned boot_allowance_s = 120;
};

std::string load_payload(const std::string& p) {
  if (p.empty() || p[0] != '@') return p;
  std::ifstream in(p.substr(1), std::ios::binary);
  if (!in) throw Error("--payload " + p + ": cannot read " + p.substr(1));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int run_invoke(const InvokeArgs& a) {
  engine::SandboxOptions o;
  o.vcpus = a.vcpus;
  o.boot_allowance = std::chrono::seconds(a.boot_allowance_s);
  o.log = [](std::string_view line) { std::fprintf(stderr, "%.*s\n", int(line.size()), line.data()); };
  o.console = [](std::string_view line) { spdlog::debug("guest: {}", line); };
  std::string payload = load_payload(a.payload);
  std::unique_ptr<engine::Sandbox> sandbox;
  try {
    sandbox = engine::Sandbox::cold_start(a.target, o);
  } catch (const engine::SandboxError& e) {
    std::fprintf(stderr, "thaw: INIT failed: %s (%s)\n", e.what(), e.error_type().c_str());
    std::string body = e.body().empty()
                           ? nlohmann::json{{"errorType", e.error_type()}, {"errorMessage", e.what()}}.dump()
                           : e.body();
    std::cout << body << std::endl;
    return 2;
  }
  engine::InvokeRequest req;
  req.payload = payload;
  auto r = sandbox->invoke(req);
  std::cout << r.body << std::endl;
  sandbox->shutdown();
  if (r.status != engine::InvokeResult::Status::kSuccess) {
    std::fprintf(stderr, "thaw: the invocation failed: %s\n", r.error_type.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

Command add_invoke_command(CLI::App& app) {
  auto a = std::make_shared<InvokeArgs>();
  auto* sub = app.add_subcommand("invoke", "start a function (cold) and invoke it once");
  sub->add_option("image", a->target, "function image directory (thaw image build)")->required();
  sub->add_option("--payload", a->payload, "event JSON, or @FILE")->capture_default_str();
  sub->add_option("--vcpus", a->vcpus, "vCPUs of the microVM")->capture_default_str()->check(CLI::Range(1, 32));
  sub->add_option("--boot-allowance", a->boot_allowance_s, "seconds allowed for the guest to boot, on top of INIT")
      ->capture_default_str();
  return {sub, true, [a] { return run_invoke(*a); }};
}

}  // namespace thaw::cli
