#include "engine/vmm/vm.h"

#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "base/error.h"
#include "base/log.h"
#include "engine/vmm/boot/acpi.h"
#include "engine/vmm/boot/bzimage.h"
#include "engine/vmm/boot/layout.h"
#include "engine/vmm/boot/linux_loader.h"
#include "engine/vmm/boot/mptable.h"
#include "engine/vmm/cpuid.h"

namespace thaw::vmm {
namespace {

// Kicks a vCPU thread out of KVM_RUN. The handler does nothing: the interrupted ioctl returns
// EINTR, and kvm_run.immediate_exit covers a thread that was about to enter KVM_RUN.
int kick_signal() { return SIGRTMIN + 3; }

void install_kick_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return
    if (::sigaction(kick_signal(), &sa, nullptr) < 0) throw_errno("sigaction", "vCPU kick signal");
  });
}

constexpr size_t kConsoleLogMax = 8u << 20;

}  // namespace

std::string_view to_string(ExitReason r) {
  switch (r) {
    case ExitReason::kPowerOff: return "poweroff";
    case ExitReason::kReboot: return "reboot";
    case ExitReason::kPanic: return "panic";
    case ExitReason::kTripleFault: return "triple-fault";
    case ExitReason::kInternalError: return "internal-error";
    case ExitReason::kTimeout: return "timeout";
    case ExitReason::kStopped: return "stopped";
  }
  return "unknown";
}

Vm::Vm(VmConfig config, std::optional<VmShell> shell) : config_(std::move(config)) {
  if (config_.vcpus == 0 || config_.vcpus > layout::kMaxVcpus)
    throw Error("vm: vCPU count must be 1.." + std::to_string(layout::kMaxVcpus));
  uint64_t mem_size = config_.mem_mib << 20;
  if (mem_size < layout::kMinMemory || mem_size > layout::kMmioGapStart)
    throw Error("vm: memory must be 64..3072 MiB");

  // Files first: a bad kernel is reported before any KVM work.
  std::vector<uint8_t> kernel = read_file(config_.kernel);
  parse_bzimage(kernel, config_.kernel);
  std::vector<uint8_t> initrd;
  if (!config_.initrd.empty()) initrd = read_file(config_.initrd);

  owned_memory_.emplace(memory::GuestMemory::create(mem_size));
  memory_ = &*owned_memory_;
  create_machine(std::move(shell));

  // Guest memory contents.
  std::vector<VirtioMmioSlot> slots = {
      {layout::kVirtioMmioBase, static_cast<uint32_t>(layout::kVirtioMmioSize), layout::kFirstVirtioIrq}};
  if (net_dev_) slots.push_back({layout::kVirtioNetBase, static_cast<uint32_t>(layout::kVirtioMmioSize), layout::kVirtioNetIrq});
  uint64_t rsdp = write_acpi_tables(view_, config_.vcpus, slots, VmGenIdSlot{layout::kVmGenId, layout::kGedGsi});
  write_mptable(view_, config_.vcpus);
  LinuxBootSpec spec{kernel, config_.kernel, initrd, config_.cmdline, mem_size, rsdp};
  BootEntry entry = load_linux(view_, spec);

  // vCPUs.
  auto supported = kvm_.supported_cpuid();
  bool tsc_deadline = kvm_.has_tsc_deadline_timer();
  size_t run_size = kvm_.vcpu_mmap_size();
  for (unsigned i = 0; i < config_.vcpus; ++i) {
    if (i == vcpus_.size()) vcpus_.push_back(std::make_unique<Vcpu>(vm_fd_.get(), i, run_size));
    Vcpu& v = *vcpus_[i];
    v.set_cpuid(normalize_cpuid(supported, {i, config_.vcpus}, tsc_deadline));
    v.set_boot_msrs();
    v.set_boot_fpu();
    if (i == 0) v.set_boot_registers(entry);
  }
  install_kick_handler();
}

bool Vm::can_pre_fault() const {
  if (!pre_fault_checked_) {
    can_pre_fault_ = kvm_.has_pre_fault_memory();
    pre_fault_checked_ = true;
  }
  return can_pre_fault_;
}

uint64_t Vm::pre_fault(std::span<const std::pair<uint64_t, uint64_t>> ranges) {
  if (ranges.empty() || !can_pre_fault()) return 0;
  uint64_t mapped = 0;
  for (const auto& [gpa, len] : ranges) {
    uint64_t n = vcpus_.front()->pre_fault(gpa, len);
    mapped += n;
    if (n < len) break;  // KVM cannot for this vCPU's paging mode: neither for the rest
  }
  return mapped;
}

Vm::Vm(VmConfig config, const memory::GuestMemory& memory, const MachineState& state, std::optional<VmShell> shell)
    : config_(std::move(config)), memory_(&memory) {
  if (state.vcpus.empty() || state.vcpus.size() > layout::kMaxVcpus)
    throw Error("vm: the saved machine has " + std::to_string(state.vcpus.size()) + " vCPUs");
  if (memory.total_size() != state.mem_bytes)
    throw Error("vm: the saved machine had " + std::to_string(state.mem_bytes >> 20) + " MiB of memory, " +
                std::to_string(memory.total_size() >> 20) + " MiB were provided");
  config_.vcpus = static_cast<unsigned>(state.vcpus.size());
  config_.mem_mib = state.mem_bytes >> 20;

  create_machine(std::move(shell));
  machine_created_at_ = std::chrono::steady_clock::now();
  for (const auto& v : state.vcpus) check_cpu_compatible(v.cpuid, kvm_.supported_cpuid());

  // vCPUs in index order (the boot vCPU first), each in KVM's dependency order.
  size_t run_size = kvm_.vcpu_mmap_size();
  for (unsigned i = 0; i < config_.vcpus; ++i) {
    if (i == vcpus_.size()) vcpus_.push_back(std::make_unique<Vcpu>(vm_fd_.get(), i, run_size));
    vcpus_[i]->restore_state(state.vcpus[i]);
  }
  // VM-wide in-kernel devices after the vCPUs whose LAPICs they deliver to. The clock is set
  // with no flags: the guest's monotonic time goes on from the instant it was paused (its wall
  // clock is corrected by the restore hooks), rather than jumping by the snapshot's age.
  kvm_ioctl(vm_fd_.get(), KVM_SET_PIT2, &state.vm.pit, "KVM_SET_PIT2");
  kvm_clock_data clock = state.vm.clock;
  clock.flags = 0;
  kvm_ioctl(vm_fd_.get(), KVM_SET_CLOCK, &clock, "KVM_SET_CLOCK");
  for (const kvm_irqchip* chip : {&state.vm.pic_master, &state.vm.pic_slave, &state.vm.ioapic})
    kvm_ioctl(vm_fd_.get(), KVM_SET_IRQCHIP, chip, "KVM_SET_IRQCHIP");

  restore_devices(state);
  for (auto& v : vcpus_) v->mark_clock_paused();
  install_kick_handler();
}

void Vm::create_machine(std::optional<VmShell> shell) {
  if (!shell) shell = VmShell::create();
  kvm_ = std::move(shell->kvm);
  vm_fd_ = std::move(shell->vm_fd);
  vcpus_.push_back(std::move(shell->boot_vcpu));

  for (const auto& r : memory_->regions()) {
    kvm_userspace_memory_region region{};
    region.slot = r.slot;
    region.guest_phys_addr = r.guest_addr;
    region.memory_size = r.size;
    region.userspace_addr = reinterpret_cast<uint64_t>(r.host);
    kvm_ioctl(vm_fd_.get(), KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");
  }
  view_ = GuestMemoryView::of(*memory_);

  serial_irq_ = std::make_unique<IrqLine>(vm_fd_.get(), layout::kSerialIrq);
  serial_ = std::make_unique<Serial>([this](uint8_t b) { on_console_byte(b); }, [this] { serial_irq_->trigger(); });
  i8042_ = std::make_unique<I8042>([this] { request_stop(ExitReason::kReboot, "the guest reset the machine (i8042)"); });
  acpi_sleep_ = std::make_unique<AcpiSleep>([this] { request_stop(ExitReason::kPowerOff, "the guest powered off (ACPI S5)"); });
  pio_.add(layout::kSerialPort, 8, serial_.get());
  pio_.add(layout::kI8042DataPort, 5, i8042_.get());
  pio_.add(layout::kAcpiSleepControlPort, 2, acpi_sleep_.get());
  virtio_irq_ = std::make_unique<IrqLine>(vm_fd_.get(), layout::kFirstVirtioIrq);
  console_dev_ = std::make_unique<VirtioConsole>(view_, [this] { virtio_irq_->trigger(); });
  add_virtio_device(*console_dev_, layout::kVirtioMmioBase, console_dev_->notify_fd(), "virtio-console");
  vmgenid_ = std::make_unique<VmGenId>(vm_fd_.get(), static_cast<uint32_t>(memory_->regions().size()),
                                       layout::kVmGenId, layout::kGedGsi);
  snapshottable_ = {serial_.get(), console_dev_.get(), vmgenid_.get()};

  if (config_.net) {
    net_irq_ = std::make_unique<IrqLine>(vm_fd_.get(), layout::kVirtioNetIrq);
    net_dev_ = std::make_unique<VirtioNet>(view_, std::move(config_.net->backend), config_.net->mac,
                                           [this] { net_irq_->trigger(); }, config_.net->tx_limit);
    add_virtio_device(*net_dev_, layout::kVirtioNetBase, net_dev_->notify_fd(), "virtio-net");
    snapshottable_.push_back(net_dev_.get());
  }
}

// The device's registers on the MMIO bus, and its QueueNotify register as an ioeventfd: the
// guest's kick wakes the device's worker without an exit to this process.
void Vm::add_virtio_device(VirtioMmioDevice& device, uint64_t base, int notify_fd, const char* what) {
  mmio_.add(base, layout::kVirtioMmioSize, &device);
  kvm_ioeventfd notify{};
  notify.addr = base + kVirtioMmioQueueNotify;
  notify.len = 4;
  notify.fd = notify_fd;
  kvm_ioctl(vm_fd_.get(), KVM_IOEVENTFD, &notify, "KVM_IOEVENTFD", std::string(what) + " QueueNotify");
}

void Vm::start_device_workers() {
  console_dev_->start();
  if (net_dev_) net_dev_->start();
}

void Vm::stop_device_workers() {
  if (console_dev_) console_dev_->stop();
  if (net_dev_) net_dev_->stop();
}

// Every registered device gets its own section; a section no device claims, or a device
// without one, means the state is not this machine's.
void Vm::restore_devices(const MachineState& state) {
  bool saved_net = state.device("virtio-net") != nullptr;
  if (saved_net != (net_dev_ != nullptr))
    throw Error(saved_net ? "vm: the saved machine has a network card; its restore needs a network backend (TAP)"
                          : "vm: the saved machine has no network card; a restore cannot add one");
  for (const DeviceSection& section : state.devices)
    if (std::none_of(snapshottable_.begin(), snapshottable_.end(),
                     [&](Snapshottable* d) { return d->snapshot_id() == section.id; }))
      throw Error("machine state: a section for device \"" + section.id + "\", which this thaw does not have");
  for (Snapshottable* device : snapshottable_) {
    const DeviceSection* section = state.device(device->snapshot_id());
    if (!section) throw Error("machine state: no section for device \"" + device->snapshot_id() + "\"");
    device->restore_section(section->version, section->bytes);
  }
}

std::vector<std::pair<uint64_t, uint64_t>> Vm::memory_devices_read_at_resume(const MachineState& state) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  if (const DeviceSection* console = state.device("virtio-console")) out = VirtioConsole::ring_ranges(console->bytes);
  if (const DeviceSection* net = state.device("virtio-net")) {
    auto rings = VirtioNet::ring_ranges(net->bytes);
    out.insert(out.end(), rings.begin(), rings.end());
  }
  return out;
}

void Vm::pause() {
  std::unique_lock lock(pause_mu_);
  pause_requested_ = true;
  {
    std::lock_guard exit_lock(exit_mu_);
    for (auto& v : vcpus_) __atomic_store_n(&v->run()->immediate_exit, 1, __ATOMIC_SEQ_CST);
    for (auto& t : threads_) ::pthread_kill(t.native_handle(), kick_signal());
  }
  pause_cv_.wait(lock, [&] { return parked_ == threads_.size() || stopping_; });
  lock.unlock();
  stop_device_workers();
}

void Vm::resume() {
  if (stopping_) return;
  start_device_workers();
  {
    std::lock_guard lock(pause_mu_);
    pause_requested_ = false;
  }
  pause_cv_.notify_all();
}

MachineState Vm::save_state() {
  {
    std::lock_guard lock(pause_mu_);
    if (!threads_.empty() && (!pause_requested_ || parked_ != threads_.size()))
      throw Error("vm: save_state needs a paused VM");
  }
  MachineState s;
  s.mem_bytes = memory_->total_size();
  std::vector<uint32_t> msrs = kvm_.msr_index_list();
  int xsave2 = kvm_ioctl(vm_fd_.get(), KVM_CHECK_EXTENSION, static_cast<unsigned long>(KVM_CAP_XSAVE2),
                         "KVM_CHECK_EXTENSION", "KVM_CAP_XSAVE2");
  for (auto& v : vcpus_) s.vcpus.push_back(v->save_state(msrs, static_cast<size_t>(std::max(xsave2, 0))));
  kvm_ioctl(vm_fd_.get(), KVM_GET_PIT2, &s.vm.pit, "KVM_GET_PIT2");
  kvm_ioctl(vm_fd_.get(), KVM_GET_CLOCK, &s.vm.clock, "KVM_GET_CLOCK");
  s.vm.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
  s.vm.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
  s.vm.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
  for (kvm_irqchip* chip : {&s.vm.pic_master, &s.vm.pic_slave, &s.vm.ioapic})
    kvm_ioctl(vm_fd_.get(), KVM_GET_IRQCHIP, chip, "KVM_GET_IRQCHIP");
  for (Snapshottable* device : snapshottable_)
    s.devices.push_back({device->snapshot_id(), device->snapshot_version(), device->save_section()});
  return s;
}

Vm::~Vm() {
  if (!threads_.empty()) {
    request_stop(ExitReason::kStopped, "the VM was destroyed");
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  stop_device_workers();
}

void Vm::start() {
  if (!threads_.empty()) throw Error("vm: already started");
  if (config_.timeout.count() > 0) deadline_ = std::chrono::steady_clock::now() + config_.timeout;
  start_device_workers();
  for (auto& v : vcpus_) threads_.emplace_back([this, vcpu = v.get()] { vcpu_loop(*vcpu); });
}

VmExit Vm::wait() {
  {
    std::unique_lock lock(exit_mu_);
    if (deadline_ != std::chrono::steady_clock::time_point{}) {
      if (!exit_cv_.wait_until(lock, deadline_, [&] { return exited_; })) {
        lock.unlock();
        request_stop(ExitReason::kTimeout, "the guest ran past its " + std::to_string(config_.timeout.count()) + " ms timeout");
        lock.lock();
      }
    }
    exit_cv_.wait(lock, [&] { return exited_; });
  }
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  stop_device_workers();
  std::lock_guard lock(exit_mu_);
  return exit_;
}

void Vm::request_stop(ExitReason reason, std::string detail) {
  {
    std::lock_guard lock(exit_mu_);
    if (exited_) return;
    if (reason == ExitReason::kReboot) {
      std::lock_guard log_lock(log_mu_);
      if (saw_panic_) {
        reason = ExitReason::kPanic;
        detail = "the guest kernel panicked";
      }
    }
    exited_ = true;
    exit_ = {reason, std::move(detail)};
    stopping_ = true;
    for (auto& v : vcpus_) __atomic_store_n(&v->run()->immediate_exit, 1, __ATOMIC_SEQ_CST);
    for (auto& t : threads_) ::pthread_kill(t.native_handle(), kick_signal());
  }
  exit_cv_.notify_all();
  log_cv_.notify_all();
  { std::lock_guard lock(pause_mu_); }
  pause_cv_.notify_all();
}

bool Vm::exited() const {
  std::lock_guard lock(exit_mu_);
  return exited_;
}

void Vm::vcpu_loop(Vcpu& vcpu) {
  kvm_run* run = vcpu.run();
  std::string who = "vCPU " + std::to_string(vcpu.index());
  try {
    while (!stopping_) {
      if (pause_requested_) {
        park(vcpu);
        continue;
      }
      if (::ioctl(vcpu.fd(), KVM_RUN, 0) < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        request_stop(ExitReason::kInternalError, who + ": KVM_RUN: " + std::strerror(errno));
        return;
      }
      switch (run->exit_reason) {
        case KVM_EXIT_IO:
          handle_io(run);
          break;
        case KVM_EXIT_MMIO:
          handle_mmio(run);
          break;
        case KVM_EXIT_INTR:
          break;
        case KVM_EXIT_HLT:
          request_stop(ExitReason::kInternalError, who + ": halted with no in-kernel LAPIC to wake it");
          return;
        case KVM_EXIT_SHUTDOWN:
          request_stop(ExitReason::kTripleFault, who + ": triple fault (KVM_EXIT_SHUTDOWN)");
          return;
        case KVM_EXIT_SYSTEM_EVENT:
          switch (run->system_event.type) {
            case KVM_SYSTEM_EVENT_SHUTDOWN: request_stop(ExitReason::kPowerOff, who + ": system event shutdown"); break;
            case KVM_SYSTEM_EVENT_RESET: request_stop(ExitReason::kReboot, who + ": system event reset"); break;
            case KVM_SYSTEM_EVENT_CRASH: request_stop(ExitReason::kPanic, who + ": system event crash"); break;
            default: request_stop(ExitReason::kInternalError, who + ": system event " + std::to_string(run->system_event.type));
          }
          return;
        case KVM_EXIT_FAIL_ENTRY:
          request_stop(ExitReason::kInternalError,
                       who + ": VM entry failed, hardware reason " +
                           std::to_string(run->fail_entry.hardware_entry_failure_reason));
          return;
        case KVM_EXIT_INTERNAL_ERROR:
          request_stop(ExitReason::kInternalError,
                       who + ": KVM internal error, suberror " + std::to_string(run->internal.suberror));
          return;
        default:
          request_stop(ExitReason::kInternalError, who + ": unexpected KVM exit " + std::to_string(run->exit_reason));
          return;
      }
    }
  } catch (const std::exception& e) {
    request_stop(ExitReason::kInternalError, who + ": " + e.what());
  }
}

// One more KVM_RUN with immediate_exit set completes an IN or MMIO read whose data the VMM has
// just written into kvm_run, then returns EINTR at once: the registers KVM hands out afterwards
// include that access. Then the thread sleeps until resume() or a stop.
void Vm::park(Vcpu& vcpu) {
  __atomic_store_n(&vcpu.run()->immediate_exit, 1, __ATOMIC_SEQ_CST);
  if (::ioctl(vcpu.fd(), KVM_RUN, 0) == 0 || (errno != EINTR && errno != EAGAIN))
    spdlog::warn("vCPU {}: KVM_RUN to complete pending I/O before pausing: {}", vcpu.index(),
                 std::strerror(errno));
  std::unique_lock lock(pause_mu_);
  ++parked_;
  pause_cv_.notify_all();
  pause_cv_.wait(lock, [&] { return !pause_requested_ || stopping_; });
  --parked_;
  if (!stopping_) __atomic_store_n(&vcpu.run()->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

void Vm::handle_io(kvm_run* run) {
  auto* base = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
  for (uint32_t i = 0; i < run->io.count; ++i) {
    std::span<uint8_t> data(base + size_t(i) * run->io.size, run->io.size);
    if (run->io.direction == KVM_EXIT_IO_OUT) {
      pio_.write(run->io.port, data);
    } else if (!pio_.read(run->io.port, data)) {
      std::memset(data.data(), 0xff, data.size());
    }
  }
}

void Vm::handle_mmio(kvm_run* run) {
  std::span<uint8_t> data(run->mmio.data, std::min<uint32_t>(run->mmio.len, 8));
  if (run->mmio.is_write) {
    mmio_.write(run->mmio.phys_addr, data);
  } else if (!mmio_.read(run->mmio.phys_addr, data)) {
    std::memset(data.data(), 0xff, data.size());
  }
}

void Vm::on_console_byte(uint8_t b) {
  bool line_done = false;
  {
    std::lock_guard lock(log_mu_);
    if (console_log_.size() < kConsoleLogMax) console_log_.push_back(static_cast<char>(b));
    if (b == '\n') {
      if (console_line_.find("Kernel panic - not syncing") != std::string::npos) saw_panic_ = true;
      console_line_.clear();
      line_done = true;
    } else if (console_line_.size() < 4096) {
      console_line_.push_back(static_cast<char>(b));
    }
  }
  if (line_done) log_cv_.notify_all();
  if (config_.console) config_.console(b);
}

std::string Vm::console_log() const {
  std::lock_guard lock(log_mu_);
  return console_log_;
}

bool Vm::wait_for_console(std::string_view text, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(log_mu_);
  auto found = [&] { return console_log_.find(text) != std::string::npos; };
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!found()) {
    if (stopping_) return found();
    if (log_cv_.wait_until(lock, deadline) == std::cv_status::timeout) return found();
  }
  return true;
}

}  // namespace thaw::vmm
