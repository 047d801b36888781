// thaw kvmhost -- CMD...: runs any command inside the emulated KVM host.
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "base/error.h"
#include "cli/commands.h"
#include "cli/kvm_mode.h"

namespace thaw::cli {

Command add_kvmhost_command(CLI::App& app) {
  auto* sub = app.add_subcommand("kvmhost", "run a command inside the emulated KVM host (QEMU with nested SVM)");
  auto args = std::make_shared<std::vector<std::string>>();
  sub->add_option("command", *args, "command and its arguments (after --)")->required();
  return {sub, false, [args]() -> int {
            std::vector<std::string> full{kvmhost_tool(), "--"};
            full.insert(full.end(), args->begin(), args->end());
            std::vector<char*> c;
            for (auto& a : full) c.push_back(a.data());
            c.push_back(nullptr);
            ::execv(c[0], c.data());
            throw_errno("execv", c[0]);
          }};
}

}  // namespace thaw::cli
