// thaw inspect SNAPSHOT_DIR [--json]: placeholder until the page store lands (snapshot/).
#include <memory>
#include <string>

#include "base/error.h"
#include "cli/commands.h"

namespace thaw::cli {

Command add_inspect_command(CLI::App& app) {
  auto* sub = app.add_subcommand("inspect", "show what a snapshot holds");
  auto dir = std::make_shared<std::string>();
  sub->add_option("snapshot", *dir, "snapshot directory")->required();
  return {sub, false, [dir]() -> int { throw Error("inspect: not built yet"); }};
}

}  // namespace thaw::cli
