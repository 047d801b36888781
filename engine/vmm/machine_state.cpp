#include "engine/vmm/machine_state.h"

#include <algorithm>
#include <cstring>

#include "base/byte_codec.h"
#include "base/error.h"
#include "engine/vmm/boot/layout.h"

namespace thaw::vmm {
namespace {

constexpr uint32_t kMagic = 0x4d534854;  // "THSM"
constexpr const char* kWhat = "machine state";

void put_device(ByteWriter& w, const DeviceSection& d) {
  w.put_vector<char>(std::span<const char>(d.id.data(), d.id.size()));
  w.put(d.version);
  w.put_vector<std::byte>(d.bytes);
}

DeviceSection get_device(ByteReader& r) {
  DeviceSection d;
  auto id = r.get_vector<char>("device id", 64);
  d.id.assign(id.begin(), id.end());
  d.version = r.get<uint32_t>("device section version");
  d.bytes = r.get_vector<std::byte>("device section", 64 << 20);
  return d;
}

void put_vcpu(ByteWriter& w, const VcpuState& v) {
  w.put(v.mp_state), w.put(v.regs), w.put(v.sregs);
  w.put_vector<uint8_t>(v.xsave);
  w.put(v.xcrs), w.put(v.debugregs), w.put(v.lapic), w.put(v.tsc_khz);
  w.put_vector<kvm_cpuid_entry2>(v.cpuid);
  w.put_vector<kvm_msr_entry>(v.msrs);
  w.put_vector<kvm_msr_entry>(v.msrs_after_tsc);
  w.put(v.events);
}

VcpuState get_vcpu(ByteReader& r) {
  VcpuState v;
  v.mp_state = r.get<kvm_mp_state>("mp_state");
  v.regs = r.get<kvm_regs>("regs");
  v.sregs = r.get<kvm_sregs>("sregs");
  v.xsave = r.get_vector<uint8_t>("xsave", 1 << 20);
  v.xcrs = r.get<kvm_xcrs>("xcrs");
  v.debugregs = r.get<kvm_debugregs>("debugregs");
  v.lapic = r.get<kvm_lapic_state>("lapic");
  v.tsc_khz = r.get<uint32_t>("tsc_khz");
  v.cpuid = r.get_vector<kvm_cpuid_entry2>("cpuid", 4096);
  v.msrs = r.get_vector<kvm_msr_entry>("msrs", 4096);
  v.msrs_after_tsc = r.get_vector<kvm_msr_entry>("msrs after tsc", 16);
  v.events = r.get<kvm_vcpu_events>("vcpu_events");
  if (v.xsave.size() < 4096) throw Error("machine state: xsave area of " + std::to_string(v.xsave.size()) + " bytes");
  if (v.xcrs.nr_xcrs > KVM_MAX_XCRS) throw Error("machine state: xcrs count " + std::to_string(v.xcrs.nr_xcrs));
  return v;
}

const kvm_cpuid_entry2* find_leaf(std::span<const kvm_cpuid_entry2> entries, uint32_t function, uint32_t index) {
  for (const auto& e : entries)
    if (e.function == function && (!(e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e.index == index)) return &e;
  return nullptr;
}

}  // namespace

std::vector<std::byte> encode_machine_state(const MachineState& s) {
  ByteWriter w;
  w.put(kMagic);
  w.put(kMachineStateVersion);
  w.put(s.mem_bytes);
  w.put(static_cast<uint32_t>(s.vcpus.size()));
  for (const auto& v : s.vcpus) put_vcpu(w, v);
  w.put(s.vm.pit), w.put(s.vm.clock), w.put(s.vm.pic_master), w.put(s.vm.pic_slave), w.put(s.vm.ioapic);
  w.put(static_cast<uint32_t>(s.devices.size()));
  for (const auto& d : s.devices) put_device(w, d);
  return w.take();
}

MachineState decode_machine_state(std::span<const std::byte> bytes) {
  ByteReader r(bytes, kWhat);
  if (r.get<uint32_t>("magic") != kMagic) throw Error("machine state: not a thaw machine state (bad magic)");
  auto version = r.get<uint32_t>("version");
  if (version != kMachineStateVersion)
    throw Error("machine state version " + std::to_string(version) + " is not the version " +
                std::to_string(kMachineStateVersion) + " this thaw reads (" +
                (version < kMachineStateVersion ? "the snapshot was taken by an older thaw" : "a newer thaw took it") +
                "): take the snapshot again with this thaw");
  MachineState s;
  s.mem_bytes = r.get<uint64_t>("memory size");
  auto n = r.get<uint32_t>("vCPU count");
  if (n == 0 || n > layout::kMaxVcpus) throw Error("machine state: " + std::to_string(n) + " vCPUs");
  for (uint32_t i = 0; i < n; ++i) s.vcpus.push_back(get_vcpu(r));
  s.vm.pit = r.get<kvm_pit_state2>("pit");
  s.vm.clock = r.get<kvm_clock_data>("kvmclock");
  s.vm.pic_master = r.get<kvm_irqchip>("pic");
  s.vm.pic_slave = r.get<kvm_irqchip>("pic");
  s.vm.ioapic = r.get<kvm_irqchip>("ioapic");
  auto devices = r.get<uint32_t>("device count");
  if (devices > 64) throw Error("machine state: " + std::to_string(devices) + " device sections");
  for (uint32_t i = 0; i < devices; ++i) {
    DeviceSection d = get_device(r);
    if (s.device(d.id)) throw Error("machine state: two sections for device \"" + d.id + "\"");
    s.devices.push_back(std::move(d));
  }
  if (!r.at_end()) throw Error("machine state: " + std::to_string(bytes.size() - r.offset()) + " trailing bytes");
  return s;
}

void check_cpu_compatible(std::span<const kvm_cpuid_entry2> saved, std::span<const kvm_cpuid_entry2> supported) {
  auto vendor = [](std::span<const kvm_cpuid_entry2> e) {
    const auto* l = find_leaf(e, 0, 0);
    if (!l) return std::string("unknown");
    char v[13] = {};
    std::memcpy(v, &l->ebx, 4), std::memcpy(v + 4, &l->edx, 4), std::memcpy(v + 8, &l->ecx, 4);
    return std::string(v);
  };
  if (vendor(saved) != vendor(supported))
    throw Error("snapshot taken on a " + vendor(saved) + " CPU cannot run on this " + vendor(supported) + " CPU");

  // Feature registers the guest kernel acts on. Bits the VMM sets itself whatever the host
  // (hypervisor, TSC deadline) and those that mirror the guest's CR4 (OSXSAVE, OSPKE) are not
  // compared.
  struct Reg {
    uint32_t function, index;
    int reg;  // 0 eax, 1 ebx, 2 ecx, 3 edx
    uint32_t ignore;
    const char* name;
  };
  static constexpr Reg regs[] = {
      {1, 0, 2, (1u << 24) | (1u << 27) | (1u << 31), "CPUID.1:ECX"},
      {1, 0, 3, 0, "CPUID.1:EDX"},
      {7, 0, 1, 0, "CPUID.7.0:EBX"},
      {7, 0, 2, 1u << 4, "CPUID.7.0:ECX"},
      {7, 0, 3, 0, "CPUID.7.0:EDX"},
      {0xd, 1, 0, 0, "CPUID.0xD.1:EAX"},
      {0x80000001, 0, 2, 0, "CPUID.80000001:ECX"},
      {0x80000001, 0, 3, 0, "CPUID.80000001:EDX"},
  };
  std::string missing;
  for (const Reg& reg : regs) {
    const auto* s = find_leaf(saved, reg.function, reg.index);
    if (!s) continue;
    const auto* h = find_leaf(supported, reg.function, reg.index);
    uint32_t sv[] = {s->eax, s->ebx, s->ecx, s->edx};
    uint32_t hv[] = {h ? h->eax : 0, h ? h->ebx : 0, h ? h->ecx : 0, h ? h->edx : 0};
    uint32_t lacking = sv[reg.reg] & ~hv[reg.reg] & ~reg.ignore;
    for (int bit = 0; bit < 32; ++bit)
      if (lacking & (1u << bit))
        missing += std::string(missing.empty() ? "" : ", ") + reg.name + " bit " + std::to_string(bit);
  }
  if (!missing.empty())
    throw Error("this host's CPU cannot run the snapshot: its vCPUs used features KVM does not offer here (" +
                missing + ")");
}

}  // namespace thaw::vmm
