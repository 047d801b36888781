// thaw layer publish NAME --content DIR|ZIP | list | versions NAME | get NAME VERSION |
// delete NAME VERSION: layers in the data directory (--data-dir), as the Lambda API's layer
// operations keep them. A function takes a version by its ARN (thaw function create --layer);
// --json prints Lambda's documents (GetLayerVersionResponse, ListLayers, ListLayerVersions).
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "cli/commands.h"
#include "cli/global_options.h"
#include "invoke-api/lambda_json.h"
#include "thaw/engine.h"

namespace thaw::cli {
namespace {
namespace fs = std::filesystem;

struct LayerArgs {
  std::string name, content, runtime;
  unsigned version = 0;
  LayerSettings settings;
  bool json = false;
};

void print_version(const LayerVersionInfo& l) {
  std::printf("%-44s %8.1f KiB  %s  %s\n", l.layer_version_arn.c_str(), double(l.code_size) / 1024,
              l.created_date.c_str(), l.settings.description.c_str());
}

int run_publish(const LayerArgs& a) {
  FunctionCode content;
  if (fs::is_directory(a.content)) content.directory = a.content;
  else if (fs::is_regular_file(a.content)) content.zip_file = a.content;
  else throw Error("--content " + a.content + ": no such directory or .zip file");
  Engine engine(cli_engine_options(0));
  auto l = engine.publish_layer_version(a.name, a.settings, content);
  if (a.json) {
    std::cout << api::layer_version_json(l).dump(2) << std::endl;
    return 0;
  }
  std::printf("%s\n", l.layer_version_arn.c_str());
  std::fprintf(stderr, "thaw: published %s version %u (%llu bytes zipped); a function takes it with --layer %s\n",
               l.layer_name.c_str(), l.version, static_cast<unsigned long long>(l.code_size),
               l.layer_version_arn.c_str());
  return 0;
}

int run_list(const LayerArgs& a) {
  Engine engine(cli_engine_options(0));
  auto all = engine.list_layers(a.runtime);
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& l : all) j.push_back(api::layers_list_item(l));
    std::cout << nlohmann::json{{"Layers", j}}.dump(2) << std::endl;
    return 0;
  }
  if (all.empty()) std::fprintf(stderr, "no layers in %s (publish one: thaw layer publish)\n", engine.data_dir().c_str());
  for (const auto& l : all) print_version(l);
  return 0;
}

int run_versions(const LayerArgs& a) {
  Engine engine(cli_engine_options(0));
  auto all = engine.list_layer_versions(a.name, a.runtime);
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& l : all) j.push_back(api::layer_versions_list_item(l));
    std::cout << nlohmann::json{{"LayerVersions", j}}.dump(2) << std::endl;
    return 0;
  }
  if (all.empty()) std::fprintf(stderr, "layer %s has no versions\n", a.name.c_str());
  for (const auto& l : all) print_version(l);
  return 0;
}

int run_get(const LayerArgs& a) {
  Engine engine(cli_engine_options(0));
  auto l = engine.get_layer_version(a.name, a.version);
  if (a.json) {
    std::cout << api::layer_version_json(l).dump(2) << std::endl;
    return 0;
  }
  print_version(l);
  return 0;
}

int run_delete(const LayerArgs& a) {
  Engine engine(cli_engine_options(0));
  engine.delete_layer_version(a.name, a.version);
  std::fprintf(stderr, "thaw: deleted %s version %u (functions that take it keep it)\n", a.name.c_str(), a.version);
  return 0;
}

}  // namespace

std::vector<Command> add_layer_commands(CLI::App& app) {
  auto a = std::make_shared<LayerArgs>();
  auto* layer = app.add_subcommand("layer", "layers: archives functions take under /opt (in the data directory, --data-dir)");
  layer->require_subcommand(1);
  std::vector<Command> out;
  auto json_flag = [&](CLI::App* s) { s->add_flag("--json", a->json, "print Lambda's JSON documents"); };
  auto name_arg = [&](CLI::App* s) { s->add_option("name", a->name, "the layer's name or ARN")->required(); };
  auto version_arg = [&](CLI::App* s) {
    s->add_option("version", a->version, "the layer version's number")->required()->check(CLI::PositiveNumber);
  };

  auto* publish = layer->add_subcommand("publish", "publish a new version of a layer from a directory or a .zip file");
  name_arg(publish);
  publish->add_option("--content", a->content,
                      "a directory or .zip file: python/ goes on sys.path, bin/ on PATH, lib/ on LD_LIBRARY_PATH")
      ->required();
  publish->add_option("--description", a->settings.description, "a description of the version");
  publish->add_option("--compatible-runtime", a->settings.compatible_runtimes,
                      "a runtime it is for (repeat for more; ListLayers filters on it)");
  publish->add_option("--license-info", a->settings.license_info, "its license (an SPDX id, a URL or the text)");
  json_flag(publish);
  out.push_back({publish, false, [a] { return run_publish(*a); }});

  auto* list = layer->add_subcommand("list", "list the layers, each with its newest version");
  list->add_option("--compatible-runtime", a->runtime, "only layers with a version for this runtime");
  json_flag(list);
  out.push_back({list, false, [a] { return run_list(*a); }});

  auto* versions = layer->add_subcommand("versions", "list a layer's versions, newest first");
  name_arg(versions);
  versions->add_option("--compatible-runtime", a->runtime, "only versions for this runtime");
  json_flag(versions);
  out.push_back({versions, false, [a] { return run_versions(*a); }});

  auto* get = layer->add_subcommand("get", "show one layer version");
  name_arg(get);
  version_arg(get);
  json_flag(get);
  out.push_back({get, false, [a] { return run_get(*a); }});

  auto* del = layer->add_subcommand("delete", "delete a layer version (functions that take it keep it)");
  name_arg(del);
  version_arg(del);
  out.push_back({del, false, [a] { return run_delete(*a); }});
  for (auto& c : out) c.uses_data_dir = true;
  return out;
}

}  // namespace thaw::cli
