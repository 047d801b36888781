// thaw function create|update-code|update-config|publish|list|get|delete and
// thaw function alias create|update|get|list|delete: the engine's control plane from the
// command line, on the data directory of --data-dir. Commands that build (create, updates,
// publish) wait until the version is Active and say what they are doing on stderr; --json
// prints Lambda's FunctionConfiguration / AliasConfiguration documents on stdout.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "cli/commands.h"
#include "cli/global_options.h"
#include "cli/option_values.h"
#include "invoke-api/lambda_json.h"
#include "thaw/engine.h"

namespace thaw::cli {
namespace {
namespace fs = std::filesystem;

struct FunctionArgs {
  std::string name, runtime, handler, code, description;
  unsigned memory_mb = 0, timeout_s = 0;
  std::vector<std::string> env, layers, allow;
  bool no_layers = false, no_network = false;
  bool snapstart = false, no_snapstart = false, json = false;
  // alias
  std::string alias, version, routing;
  bool no_routing = false;
  // concurrency
  std::optional<unsigned> reserve;
  bool no_reserve = false;
  // provisioned
  std::optional<unsigned> provision;
  bool no_provision = false;
};

FunctionCode code_from(const std::string& path) {
  if (path.empty()) throw Error("--code DIR|ZIP is required");
  if (fs::is_directory(path)) return {.directory = path};
  if (fs::is_regular_file(path)) return {.zip_file = path};
  throw Error("--code " + path + ": no such directory or .zip file");
}

std::optional<AliasRouting> routing_from(const std::string& r) {
  if (r.empty()) return std::nullopt;
  auto eq = r.find('=');
  if (eq == std::string::npos) throw Error("--routing " + r + ": expected VERSION=WEIGHT, e.g. 2=0.1");
  try {
    return AliasRouting{r.substr(0, eq), std::stod(r.substr(eq + 1))};
  } catch (const std::exception&) {
    throw Error("--routing " + r + ": the weight is not a number");
  }
}

void print_function(const FunctionInfo& f, bool json) {
  if (json) {
    std::cout << api::function_configuration(f).dump(2) << std::endl;
    return;
  }
  std::string extras = f.layers.empty() ? "" : "  layers " + std::to_string(f.layers.size());
  if (!f.settings.network_allow.empty()) extras += "  network " + std::to_string(f.settings.network_allow.size());
  std::printf("%-24s %-9s %-8s %-11s %5u MB %4u s  %s%s%s\n", f.name.c_str(), f.version.c_str(),
              std::string(to_string(f.state)).c_str(), f.settings.runtime.c_str(), f.settings.memory_mb,
              f.settings.timeout_s, f.code_sha256.c_str(), f.snap_start_optimized ? "  SnapStart" : "", extras.c_str());
}

void print_alias(const AliasInfo& a, bool json) {
  if (json) {
    std::cout << api::alias_configuration(a).dump(2) << std::endl;
    return;
  }
  std::printf("%-24s -> %s", a.name.c_str(), a.function_version.c_str());
  if (a.routing) std::printf(" (%.0f %% to %s)", a.routing->weight * 100, a.routing->version.c_str());
  std::printf("\n");
}

// Waits for the version to be Active, saying what is happening.
FunctionInfo wait_active(Engine& engine, const FunctionInfo& f, const char* doing) {
  if (f.state == FunctionState::kActive && f.last_update_status != LastUpdateStatus::kInProgress) return f;
  std::fprintf(stderr, "thaw: %s %s:%s ...\n", doing, f.name.c_str(), f.version.c_str());
  auto t0 = std::chrono::steady_clock::now();
  auto done = engine.wait_until_ready(f.name, f.version, std::chrono::hours(1));
  std::fprintf(stderr, "thaw: %s:%s is Active (%.1f s)\n", f.name.c_str(), f.version.c_str(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return done;
}

int run_create(const FunctionArgs& a) {
  Engine engine(cli_engine_options(1));
  FunctionSettings s;
  s.runtime = a.runtime;
  s.handler = a.handler;
  s.memory_mb = a.memory_mb;
  s.timeout_s = a.timeout_s;
  s.description = a.description;
  s.environment = environment_from(a.env);
  s.snap_start = a.snapstart ? SnapStartApplyOn::kPublishedVersions : SnapStartApplyOn::kNone;
  s.layers = a.layers;
  s.network_allow = a.allow;
  auto f = engine.create_function(a.name, s, code_from(a.code));
  print_function(wait_active(engine, f, "building the image of"), a.json);
  return 0;
}

int run_update_code(const FunctionArgs& a) {
  Engine engine(cli_engine_options(1));
  auto f = engine.update_function_code(a.name, code_from(a.code));
  print_function(wait_active(engine, f, "building the new image of"), a.json);
  return 0;
}

int run_update_config(const FunctionArgs& a, CLI::App* sub) {
  Engine engine(cli_engine_options(1));
  FunctionSettingsUpdate u;
  if (sub->count("--runtime")) u.runtime = a.runtime;
  if (sub->count("--handler")) u.handler = a.handler;
  if (sub->count("--description")) u.description = a.description;
  if (sub->count("--memory")) u.memory_mb = a.memory_mb;
  if (sub->count("--timeout")) u.timeout_s = a.timeout_s;
  if (sub->count("--env")) u.environment = environment_from(a.env);
  if (a.snapstart) u.snap_start = SnapStartApplyOn::kPublishedVersions;
  if (a.no_snapstart) u.snap_start = SnapStartApplyOn::kNone;
  if (sub->count("--layer")) u.layers = a.layers;
  if (a.no_layers) u.layers = std::vector<std::string>{};
  if (sub->count("--allow")) u.network_allow = a.allow;
  if (a.no_network) u.network_allow = std::vector<std::string>{};
  auto f = engine.update_function_configuration(a.name, u);
  print_function(wait_active(engine, f, "building the new image of"), a.json);
  return 0;
}

int run_publish(const FunctionArgs& a) {
  Engine engine(cli_engine_options(1));
  auto f = engine.publish_version(a.name, a.description);
  print_function(wait_active(engine, f, "taking the SnapStart snapshot (INIT, then the snapshot) of"), a.json);
  return 0;
}

int run_list(const FunctionArgs& a) {
  Engine engine(cli_engine_options(0));
  auto all = engine.list_functions();
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& f : all) j.push_back(api::function_configuration(f));
    std::cout << nlohmann::json{{"Functions", j}}.dump(2) << std::endl;
    return 0;
  }
  if (all.empty()) std::fprintf(stderr, "no functions in %s (create one: thaw function create)\n", engine.data_dir().c_str());
  for (const auto& f : all) print_function(f, false);
  return 0;
}

int run_get(const FunctionArgs& a) {
  Engine engine(cli_engine_options(0));
  auto ref_has_qualifier = a.name.find(':') != std::string::npos && a.name.rfind("arn:", 0) != 0;
  if (ref_has_qualifier || a.name.rfind("arn:", 0) == 0) {
    print_function(engine.get_function(a.name), a.json);
    return 0;
  }
  auto versions = engine.list_versions(a.name);
  auto aliases = engine.list_aliases(a.name);
  if (a.json) {
    nlohmann::json v = nlohmann::json::array(), al = nlohmann::json::array();
    for (const auto& f : versions) v.push_back(api::function_configuration(f));
    for (const auto& x : aliases) al.push_back(api::alias_configuration(x));
    std::cout << nlohmann::json{{"Configuration", v.front()}, {"Versions", v}, {"Aliases", al}}.dump(2) << std::endl;
    return 0;
  }
  for (const auto& f : versions) print_function(f, false);
  for (const auto& x : aliases) print_alias(x, false);
  return 0;
}

int run_delete(const FunctionArgs& a) {
  Engine engine(cli_engine_options(0));
  engine.delete_function(a.name);
  std::fprintf(stderr, "thaw: deleted %s\n", a.name.c_str());
  return 0;
}

int run_alias(const std::string& what, const FunctionArgs& a) {
  Engine engine(cli_engine_options(0));
  if (what == "list") {
    auto all = engine.list_aliases(a.name);
    if (a.json) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& x : all) j.push_back(api::alias_configuration(x));
      std::cout << nlohmann::json{{"Aliases", j}}.dump(2) << std::endl;
    } else {
      for (const auto& x : all) print_alias(x, false);
    }
    return 0;
  }
  if (what == "get") {
    print_alias(engine.get_alias(a.name, a.alias), a.json);
    return 0;
  }
  if (what == "delete") {
    engine.delete_alias(a.name, a.alias);
    return 0;
  }
  AliasSettings s{.function_version = a.version, .description = a.description, .routing = routing_from(a.routing)};
  if (what == "create") {
    print_alias(engine.create_alias(a.name, a.alias, s), a.json);
    return 0;
  }
  // update: what is not given stays as it is
  auto current = engine.get_alias(a.name, a.alias);
  if (s.function_version.empty()) s.function_version = current.function_version;
  if (a.description.empty()) s.description = current.description;
  if (a.routing.empty() && !a.no_routing) s.routing = current.routing;
  print_alias(engine.update_alias(a.name, a.alias, s), a.json);
  return 0;
}

int run_concurrency(const FunctionArgs& a) {
  Engine engine(cli_engine_options(0));
  if (a.reserve) engine.put_function_concurrency(a.name, *a.reserve);
  if (a.no_reserve) engine.delete_function_concurrency(a.name);
  auto reserved = engine.get_function_concurrency(a.name);
  auto account = engine.account_settings();
  if (a.json) {
    nlohmann::json j = api::account_settings_json(account);
    j["Concurrency"] = nlohmann::json::object();
    if (reserved) j["Concurrency"]["ReservedConcurrentExecutions"] = *reserved;
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::printf("%s: %s\n", a.name.c_str(),
              reserved ? ("reserved concurrency " + std::to_string(*reserved)).c_str() : "no reservation (shares the unreserved pool)");
  std::printf("account: limit %u, unreserved %u (minimum %u), sandbox memory budget %llu MB\n",
              account.concurrent_executions, account.unreserved_concurrent_executions, account.unreserved_minimum,
              static_cast<unsigned long long>(account.memory_budget_mb));
  return 0;
}

void print_provisioned(const ProvisionedConcurrencyInfo& p) {
  std::printf("%-24s %-12s requested %3u  allocated %3u  %-11s %s%s\n", p.function.c_str(), p.qualifier.c_str(),
              p.requested, p.allocated, std::string(to_string(p.status)).c_str(), p.last_modified.c_str(),
              p.status_reason.empty() ? "" : ("  " + p.status_reason).c_str());
}

// The configurations are kept in the data directory; their sandboxes are started by the engine
// that serves it (thaw serve), which holds the directory's lock while it runs.
int run_provisioned(const FunctionArgs& a) {
  Engine engine(cli_engine_options(0));
  if (a.version.empty() && (a.provision || a.no_provision))
    throw Error("--set and --delete need the QUALIFIER (a published version or an alias)");
  std::vector<ProvisionedConcurrencyInfo> shown;
  if (a.provision) {
    shown.push_back(engine.put_provisioned_concurrency(a.name, a.version, *a.provision));
  } else if (a.no_provision) {
    engine.delete_provisioned_concurrency(a.name, a.version);
    std::fprintf(stderr, "%s:%s: provisioned concurrency removed\n", a.name.c_str(), a.version.c_str());
    return 0;
  } else if (!a.version.empty()) {
    shown.push_back(engine.get_provisioned_concurrency(a.name, a.version));
  } else {
    shown = engine.list_provisioned_concurrency(a.name);
  }
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& p : shown) j.push_back(api::provisioned_concurrency_json(p));
    std::cout << (a.version.empty() ? nlohmann::json{{"ProvisionedConcurrencyConfigs", j}} : j[0]).dump(2) << std::endl;
    return 0;
  }
  for (const auto& p : shown) print_provisioned(p);
  if (shown.empty()) std::printf("%s: no provisioned concurrency\n", a.name.c_str());
  if (a.provision)
    std::fprintf(stderr, "thaw serve on this data directory starts the sandboxes and keeps them warm\n");
  return 0;
}

void add_code_options(CLI::App* sub, FunctionArgs& a, bool required) {
  auto* o = sub->add_option("--code", a.code, "the function's code: a directory or a .zip file");
  if (required) o->required();
}

void add_settings_options(CLI::App* sub, FunctionArgs& a) {
  sub->add_option("--runtime", a.runtime, "python3.11 or provided");
  sub->add_option("--handler", a.handler, "module.function (python3.11; default lambda_function.handler)");
  sub->add_option("--memory", a.memory_mb, "MB of guest memory, 128 to 10240 (default: 256 for python3.11, 128 for provided)")
      ->check(CLI::Range(128, 10240));
  sub->add_option("--timeout", a.timeout_s, "seconds an invocation may run, 1 to 900 (default 3)")->check(CLI::Range(1, 900));
  sub->add_option("--env", a.env, "an environment variable KEY=VALUE (repeat for more)");
  sub->add_option("--description", a.description, "a description of the function");
  sub->add_flag("--snapstart", a.snapstart, "SnapStart (ApplyOn PublishedVersions): publishing snapshots INIT");
  sub->add_option("--layer", a.layers,
                  "a layer version ARN (thaw layer publish prints it); repeat for more, at most 5, unpacked in "
                  "order under /opt");
  sub->add_option("--allow", a.allow,
                  "a destination the function may connect to, ADDRESS[/PREFIX][:PORT] (e.g. 10.0.0.5:6379, "
                  "10.0.0.0/24, 0.0.0.0/0); repeat for more. With any, each sandbox gets a network card and a "
                  "network namespace of its own (needs root); everything not listed is refused");
}

}  // namespace

std::vector<Command> add_function_commands(CLI::App& app) {
  auto a = std::make_shared<FunctionArgs>();
  auto* fn = app.add_subcommand("function", "functions, versions and aliases in the data directory (--data-dir)");
  fn->require_subcommand(1);
  std::vector<Command> out;
  auto json_flag = [&](CLI::App* s) { s->add_flag("--json", a->json, "print Lambda's JSON documents"); };

  auto* create = fn->add_subcommand("create", "create a function from its code and build its image");
  create->add_option("name", a->name, "the function's name")->required();
  add_settings_options(create, *a);
  create->get_option("--runtime")->required();
  add_code_options(create, *a, true);
  json_flag(create);
  out.push_back({create, false, [a] { return run_create(*a); }});

  auto* code = fn->add_subcommand("update-code", "replace $LATEST's code and rebuild its image");
  code->add_option("name", a->name, "function name or ARN")->required();
  add_code_options(code, *a, true);
  json_flag(code);
  out.push_back({code, false, [a] { return run_update_code(*a); }});

  auto* config = fn->add_subcommand("update-config", "change $LATEST's configuration (only what is given)");
  config->add_option("name", a->name, "function name or ARN")->required();
  add_settings_options(config, *a);
  config->add_flag("--no-snapstart", a->no_snapstart, "turn SnapStart off (ApplyOn None)");
  config->add_flag("--no-layers", a->no_layers, "take every layer off the function")->excludes("--layer");
  config->add_flag("--no-network", a->no_network, "take the network card off the function (no destinations)")
      ->excludes("--allow");
  json_flag(config);
  out.push_back({config, false, [a, config] { return run_update_config(*a, config); }});

  auto* publish = fn->add_subcommand(
      "publish", "publish $LATEST as a new immutable version (SnapStart functions: INIT and snapshot; needs KVM)");
  publish->add_option("name", a->name, "function name or ARN")->required();
  publish->add_option("--description", a->description, "the version's description");
  json_flag(publish);
  Command pub{publish, false, [a] { return run_publish(*a); }};
  pub.needs_kvm_now = [a] {
    Engine engine(cli_engine_options(0));
    return engine.get_function(a->name).settings.snap_start == SnapStartApplyOn::kPublishedVersions;
  };
  out.push_back(pub);

  auto* list = fn->add_subcommand("list", "list the functions ($LATEST of each)");
  json_flag(list);
  out.push_back({list, false, [a] { return run_list(*a); }});

  auto* get = fn->add_subcommand("get", "show a function's versions and aliases, or one version (NAME:QUALIFIER)");
  get->add_option("name", a->name, "NAME, NAME:QUALIFIER or an ARN")->required();
  json_flag(get);
  out.push_back({get, false, [a] { return run_get(*a); }});

  auto* del = fn->add_subcommand("delete", "delete a function (NAME) or one of its versions (NAME:VERSION)");
  del->add_option("name", a->name, "NAME or NAME:VERSION")->required();
  out.push_back({del, false, [a] { return run_delete(*a); }});

  auto* conc = fn->add_subcommand(
      "concurrency", "show or set a function's reserved concurrency, with the account's limits (as thaw serve enforces them)");
  conc->add_option("name", a->name, "function name or ARN")->required();
  auto* reserve = conc->add_option("--reserve", a->reserve,
                                   "reserve N concurrent executions for it, which is also its cap (0 throttles every invoke)");
  conc->add_flag("--no-reserve", a->no_reserve, "remove its reservation")->excludes(reserve);
  json_flag(conc);
  out.push_back({conc, false, [a] { return run_concurrency(*a); }});

  auto* prov = fn->add_subcommand(
      "provisioned", "show or set provisioned concurrency: sandboxes thaw serve keeps initialized ahead for a version or alias");
  prov->add_option("name", a->name, "function name or ARN")->required();
  prov->add_option("qualifier", a->version, "a published version or an alias (without it: list the function's)");
  auto* set = prov->add_option("--set", a->provision, "keep N sandboxes initialized for it (they count against concurrency)")
                  ->check(CLI::Range(1u, 100000u));
  prov->add_flag("--delete", a->no_provision, "remove its provisioned concurrency")->excludes(set);
  json_flag(prov);
  out.push_back({prov, false, [a] { return run_provisioned(*a); }});

  auto* alias = fn->add_subcommand("alias", "aliases: names for versions, optionally splitting traffic with a second");
  alias->require_subcommand(1);
  for (const char* what : {"create", "update", "get", "list", "delete"}) {
    auto* s = alias->add_subcommand(what, std::string(what) + " an alias");
    s->add_option("function", a->name, "function name or ARN")->required();
    if (std::string(what) != "list") s->add_option("alias", a->alias, "the alias's name")->required();
    if (std::string(what) == "create" || std::string(what) == "update") {
      auto* v = s->add_option("--version", a->version, "the version it points to");
      if (std::string(what) == "create") v->required();
      s->add_option("--routing", a->routing, "VERSION=WEIGHT: send WEIGHT (0 to 1) of invocations to VERSION");
      s->add_option("--description", a->description, "a description of the alias");
      if (std::string(what) == "update") s->add_flag("--no-routing", a->no_routing, "stop routing to a second version");
    }
    if (std::string(what) != "delete") json_flag(s);
    out.push_back({s, false, [a, w = std::string(what)] { return run_alias(w, *a); }});
  }
  for (auto& c : out) c.uses_data_dir = true;
  return out;
}

}  // namespace thaw::cli
