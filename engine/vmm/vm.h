#pragma once
// A KVM microVM booting a Linux bzImage: guest RAM, in-kernel irqchip and PIT, 1..N vCPUs (one
// thread each), an 8250 console, i8042 reset, ACPI power-off, a virtio-console channel and,
// when configured, a virtio-net card on a TAP.
// Construction builds everything (and throws a thaw::Error / SystemError saying what failed);
// run() (or start() + wait()) runs it until the guest powers off, reboots, panics,
// triple-faults, KVM fails, the timeout fires or the host calls request_stop(). Every path ends
// with all vCPU threads joined; destruction frees every fd, mapping and thread.
//
// Snapshots: pause() parks every vCPU, save_state() then reads the machine's state; the
// restoring constructor builds the same machine around guest memory the caller provides
// (typically served lazily by a memory::LazyLoader) and puts that state back, so start()
// resumes the guest where it was paused. Devices with state are Snapshottable: each saves and
// restores its own section, and Vm only keeps the list (create_machine registers them).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "engine/vmm/devices/acpi_sleep.h"
#include "engine/vmm/devices/bus_device.h"
#include "engine/vmm/devices/i8042.h"
#include "engine/vmm/devices/serial.h"
#include "engine/vmm/devices/snapshottable.h"
#include "engine/vmm/devices/virtio_console.h"
#include "engine/vmm/devices/virtio_net.h"
#include "engine/vmm/devices/vmgenid.h"
#include "engine/vmm/exit_reason.h"
#include "engine/vmm/irq_line.h"
#include "engine/vmm/kvm.h"
#include "engine/vmm/vm_shell.h"
#include "engine/vmm/machine_state.h"
#include "engine/vmm/vcpu.h"
#include "memory/guest_memory.h"

namespace thaw::vmm {

// Fast-booting defaults: serial console, i8042 reset for reboot, panic reboots at once, no PCI
// scan (devices come from ACPI), quiet console. The root filesystem, which the initramfs is
// unpacked into, is ramfs: the kernel's default, a tmpfs, may hold only half the memory left
// after the kernel and the initramfs itself, and a python3.11 image with boto3 (64 MB) fails
// to unpack in a 256 MB guest with it.
inline constexpr std::string_view kDefaultCmdline = "console=ttyS0 reboot=k panic=-1 pci=off quiet rootfstype=ramfs";

// The guest's network card: a virtio-net device on a TAP (or any non-blocking fd carrying one
// Ethernet frame per read and write), with the MAC the guest sees. A restored machine keeps
// the MAC it was saved with; only the backend is new.
struct VmNetConfig {
  UniqueFd backend;
  MacAddress mac{0x02, 0xfc, 0, 0, 0, 2};
  NetRateLimit tx_limit;  // outbound; none by default
};

struct VmConfig {
  std::string kernel;  // bzImage path
  std::string initrd;  // initramfs path (may be empty)
  std::string cmdline{kDefaultCmdline};
  uint64_t mem_mib = 256;
  unsigned vcpus = 1;
  std::chrono::milliseconds timeout{0};  // 0: none; counts from start()
  // Serial output, byte by byte, on the vCPU thread that wrote it (besides the console log).
  std::function<void(uint8_t)> console;
  // A network card; a machine saved with one is restored only with one, and the reverse.
  std::optional<VmNetConfig> net;
};

class Vm {
 public:
  // Boots config.kernel with its own, freshly mapped guest memory. `shell`: a VM this process
  // made ahead (vm_shell.h), built on instead of a new one.
  explicit Vm(VmConfig config, std::optional<VmShell> shell = std::nullopt);
  // Restores a saved machine around `memory` (which must outlive the Vm and hold the saved
  // guest memory, or fault it in). config.kernel/initrd are unused; memory size and vCPU count
  // come from the state. Throws thaw::Error if this host's CPU cannot run it, SystemError if
  // KVM refuses part of the state.
  Vm(VmConfig config, const memory::GuestMemory& memory, const MachineState& state,
     std::optional<VmShell> shell = std::nullopt);
  ~Vm();
  // The restoring constructor's split: when the bare machine (VM, irqchip, PIT, memory slots,
  // devices) was up, before the saved state went in. Epoch for a booted VM.
  std::chrono::steady_clock::time_point machine_created_at() const { return machine_created_at_; }
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  void start();
  VmExit wait();
  VmExit run() {
    start();
    return wait();
  }
  // Parks every vCPU outside KVM_RUN with its pending port or MMIO access completed, and stops
  // the channel's worker: the machine is quiescent until resume(). Returns once all are parked
  // (at once if the VM ended).
  void pause();
  void resume();
  // The whole machine state except guest memory. The VM must be paused or not yet started.
  MachineState save_state();
  const memory::GuestMemory& memory() const { return *memory_; }

  // Ends the VM from any thread; the first reason given wins.
  void request_stop(ExitReason reason, std::string detail);

  // KVM can pre-fault stage 2 for this VM (KVM_CAP_PRE_FAULT_MEMORY: Linux 6.11+ with nested
  // or extended page tables).
  bool can_pre_fault() const;
  // Maps guest-physical ranges ({address, length}, page-aligned) into stage 2 now, through the
  // boot vCPU (its page tables serve every vCPU), so the guest touches them without exits to
  // KVM. A restorer calls it before start(), once their host pages are in. Returns the bytes
  // mapped; 0 when the host cannot (can_pre_fault() false, or KVM refuses for this vCPU).
  uint64_t pre_fault(std::span<const std::pair<uint64_t, uint64_t>> ranges);

  // The VM Generation ID device: a restorer calls vmgenid().change() before start().
  VmGenId& vmgenid() { return *vmgenid_; }
  // Guest memory ({address, length}) the VMM's own device threads read as soon as a machine
  // restored from `state` runs (the console's rings), so a restorer can check it first.
  static std::vector<std::pair<uint64_t, uint64_t>> memory_devices_read_at_resume(const MachineState& state);

  // The network card, or nullptr when the machine has none.
  VirtioNet* net() { return net_dev_.get(); }
  // The host<->guest channel (/dev/hvc0 in the guest).
  VirtioConsole& channel() { return *console_dev_; }
  // Terminal input to the guest's serial console.
  void serial_input(std::span<const uint8_t> bytes) { serial_->enqueue_input(bytes); }
  // Everything the guest wrote to its serial console so far.
  std::string console_log() const;
  // Waits until the console log contains `text`; false on timeout or when the VM ended first.
  bool wait_for_console(std::string_view text, std::chrono::milliseconds timeout) const;
  bool exited() const;
  unsigned vcpu_count() const { return static_cast<unsigned>(vcpus_.size()); }

 private:
  std::chrono::steady_clock::time_point machine_created_at_{};
  // The bare machine: the shell (made here when not given: VM, irqchip, PIT, vCPU 0), guest
  // memory slots, and the devices on their buses.
  void create_machine(std::optional<VmShell> shell);
  void restore_devices(const MachineState& state);
  void vcpu_loop(Vcpu& vcpu);
  void park(Vcpu& vcpu);
  void handle_io(kvm_run* run);
  void handle_mmio(kvm_run* run);
  void on_console_byte(uint8_t b);

  VmConfig config_;
  std::optional<memory::GuestMemory> owned_memory_;
  const memory::GuestMemory* memory_ = nullptr;
  Kvm kvm_;
  mutable bool pre_fault_checked_ = false, can_pre_fault_ = false;  // KVM_CHECK_EXTENSION once
  UniqueFd vm_fd_;
  GuestMemoryView view_;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  void add_virtio_device(VirtioMmioDevice& device, uint64_t base, int notify_fd, const char* what);
  void start_device_workers();
  void stop_device_workers();

  std::unique_ptr<IrqLine> serial_irq_, virtio_irq_, net_irq_;
  std::unique_ptr<Serial> serial_;
  std::unique_ptr<I8042> i8042_;
  std::unique_ptr<AcpiSleep> acpi_sleep_;
  std::unique_ptr<VirtioConsole> console_dev_;
  std::unique_ptr<VirtioNet> net_dev_;
  std::unique_ptr<VmGenId> vmgenid_;
  std::vector<Snapshottable*> snapshottable_;  // every device with state, in save order
  Bus pio_, mmio_;

  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> pause_requested_{false};
  std::mutex pause_mu_;
  std::condition_variable pause_cv_;
  unsigned parked_ = 0;
  std::chrono::steady_clock::time_point deadline_{};

  mutable std::mutex exit_mu_;
  mutable std::condition_variable exit_cv_;
  bool exited_ = false;
  VmExit exit_;

  mutable std::mutex log_mu_;
  mutable std::condition_variable log_cv_;
  std::string console_log_;
  std::string console_line_;
  bool saw_panic_ = false;
};

}  // namespace thaw::vmm
