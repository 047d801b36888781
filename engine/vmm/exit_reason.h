#pragma once
// Why a VM ended. Every path out of Vm::run() yields one of these with a human-readable detail.
#include <string>
#include <string_view>

namespace thaw::vmm {

enum class ExitReason {
  kPowerOff,       // the guest powered off (ACPI S5 through the sleep control register)
  kReboot,         // the guest reset the machine (i8042 0xFE, reboot=k)
  kPanic,          // the guest kernel panicked (panic=-1 reboots; "Kernel panic" seen on the console)
  kTripleFault,    // KVM_EXIT_SHUTDOWN
  kInternalError,  // KVM or VMM failure (entry failure, emulation error, unexpected exit)
  kTimeout,        // the host-side timeout fired
  kStopped,        // the host asked the VM to stop
};

std::string_view to_string(ExitReason r);

struct VmExit {
  ExitReason reason = ExitReason::kStopped;
  std::string detail;
};

}  // namespace thaw::vmm
