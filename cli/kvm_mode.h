#pragma once
// Where a command that needs KVM runs: on this machine's /dev/kvm, or inside the emulated
// KVM host (tools/kvmhost) for machines without hardware virtualisation.
#include <string>
#include <string_view>
#include <vector>

namespace thaw::cli {

enum class KvmPlace { kHost, kEmulated };

// "auto": /dev/kvm if present, else a thaw::Error that names --kvm emulated.
// "host": /dev/kvm, else an error. "emulated": the emulated host (or /dev/kvm if already inside it).
// A /dev/kvm that cannot boot thaw's guests (PVM: vmm::kvm_backing) is as good as none.
KvmPlace resolve_kvm_mode(std::string_view mode);

// Runs this same command line (with --kvm host) inside the emulated KVM host; returns its exit status.
// The paths it names are the same there (kvmhost --see exports those under /tmp and the like), or
// kvmhost says which cannot be and exits 125 before the emulated host starts.
// `writable` directories are exported writable (created first); `leading` words go before the
// command line's own (e.g. the data directory the engine resolved here).
int rerun_in_emulated_host(int argc, char** argv, const std::vector<std::string>& writable = {},
                           const std::vector<std::string>& leading = {});

// Path of the kvmhost tool: $THAW_KVMHOST, else the copy in the source tree thaw was built from.
const char* kvmhost_tool();

}  // namespace thaw::cli
