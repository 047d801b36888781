// The machine state's byte form (no KVM needed): round trip, and refusal of anything that is
// not exactly what this thaw wrote.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/vmm/machine_state.h"

namespace thaw::vmm {
namespace {

MachineState sample() {
  MachineState s;
  s.mem_bytes = 256ull << 20;
  VcpuState v;
  v.regs.rip = 0xffffffff81000000;
  v.regs.rsp = 0x1234;
  v.sregs.cr3 = 0x9000;
  v.xsave.assign(4096, 0);
  v.xsave[512] = 7;
  v.tsc_khz = 2'000'000;
  kvm_cpuid_entry2 leaf{};
  leaf.function = 1;
  leaf.ecx = 0x80000000;
  v.cpuid.push_back(leaf);
  v.msrs.push_back(kvm_msr_entry{.index = 0x10, .reserved = 0, .data = 123456789});
  v.msrs_after_tsc.push_back(kvm_msr_entry{.index = 0x6e0, .reserved = 0, .data = 123460000});
  s.vcpus.push_back(v);
  s.vcpus.push_back(v);
  s.vcpus[1].regs.rip = 0xffffffff81000100;
  s.vm.clock.clock = 42'000'000;
  s.vm.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
  s.devices.push_back({"serial", 1, {std::byte{3}, std::byte{4}}});
  s.devices.push_back({"vmgenid", 7, std::vector<std::byte>(16, std::byte{0xab})});
  return s;
}

TEST(MachineState, RoundTripsEveryField) {
  auto bytes = encode_machine_state(sample());
  MachineState d = decode_machine_state(bytes);
  ASSERT_EQ(d.vcpus.size(), 2u);
  EXPECT_EQ(d.mem_bytes, 256ull << 20);
  EXPECT_EQ(d.vcpus[0].regs.rip, 0xffffffff81000000u);
  EXPECT_EQ(d.vcpus[1].regs.rip, 0xffffffff81000100u);
  EXPECT_EQ(d.vcpus[0].sregs.cr3, 0x9000u);
  EXPECT_EQ(d.vcpus[0].xsave[512], 7);
  EXPECT_EQ(d.vcpus[0].tsc_khz, 2'000'000u);
  ASSERT_EQ(d.vcpus[0].msrs.size(), 1u);
  EXPECT_EQ(d.vcpus[0].msrs[0].data, 123456789u);
  ASSERT_EQ(d.vcpus[0].msrs_after_tsc.size(), 1u);
  EXPECT_EQ(d.vcpus[0].msrs_after_tsc[0].index, 0x6e0u);
  EXPECT_EQ(d.vm.clock.clock, 42'000'000u);
  EXPECT_EQ(d.vm.ioapic.chip_id, static_cast<uint32_t>(KVM_IRQCHIP_IOAPIC));
  ASSERT_EQ(d.devices.size(), 2u);
  EXPECT_EQ(d.devices[0].id, "serial");
  EXPECT_EQ(d.devices[0].version, 1u);
  EXPECT_EQ(d.devices[0].bytes, (std::vector<std::byte>{std::byte{3}, std::byte{4}}));
  ASSERT_NE(d.device("vmgenid"), nullptr);
  EXPECT_EQ(d.device("vmgenid")->version, 7u);
  EXPECT_EQ(d.device("vmgenid")->bytes.size(), 16u);
  EXPECT_EQ(d.device("virtio-net"), nullptr);
  EXPECT_EQ(encode_machine_state(d), bytes);
}

TEST(MachineState, EveryTruncationIsAClearError) {
  auto bytes = encode_machine_state(sample());
  for (size_t n = 0; n < bytes.size(); n += 97) {
    std::span<const std::byte> cut(bytes.data(), n);
    EXPECT_THROW(decode_machine_state(cut), Error) << n;
  }
  bytes.push_back(std::byte{0});
  EXPECT_THROW(decode_machine_state(bytes), Error) << "trailing byte";
}

TEST(MachineState, OtherVersionsAndHugeCountsAreRefused) {
  auto bytes = encode_machine_state(sample());
  // A snapshot taken before devices had sections (version 1) is refused by name, not misread.
  for (uint8_t version : {uint8_t{1}, uint8_t{kMachineStateVersion + 1}}) {
    auto other = bytes;
    other[4] = std::byte{version};  // the version follows the 4-byte magic
    try {
      decode_machine_state(other);
      FAIL() << "version " << int(version) << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("machine state version " + std::to_string(version)), std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("take the snapshot again"), std::string::npos) << e.what();
    }
  }
  auto huge = bytes;
  uint32_t lots = 0xffffff;
  std::memcpy(huge.data() + 16, &lots, 4);  // the vCPU count after magic, version, memory size
  EXPECT_THROW(decode_machine_state(huge), Error);
  auto magic = bytes;
  magic[0] = std::byte{0};
  EXPECT_THROW(decode_machine_state(magic), Error);
}

TEST(MachineState, ADeviceNamedTwiceIsRefused) {
  MachineState s = sample();
  s.devices.push_back(s.devices[0]);
  EXPECT_THROW(decode_machine_state(encode_machine_state(s)), Error);
}

kvm_cpuid_entry2 leaf(uint32_t function, uint32_t index, uint32_t ebx, uint32_t ecx, uint32_t edx) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  e.ebx = ebx, e.ecx = ecx, e.edx = edx;
  if (function == 7 || function == 0xd) e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
  return e;
}

TEST(CpuCompatibility, MissingFeaturesAndOtherVendorsAreNamed) {
  // "AuthenticAMD": ebx "Auth", edx "enti", ecx "cAMD".
  auto amd = leaf(0, 0, 0x68747541, 0x444d4163, 0x69746e65);
  auto intel = leaf(0, 0, 0x756e6547, 0x6c65746e, 0x49656e69);
  std::vector<kvm_cpuid_entry2> host = {amd, leaf(1, 0, 0, 0x1, 0x1), leaf(7, 0, 0x8, 0, 0)};
  std::vector<kvm_cpuid_entry2> same = {amd, leaf(1, 0, 0, 0x1 | (1u << 31), 0x1), leaf(7, 0, 0x8, 0, 0)};
  EXPECT_NO_THROW(check_cpu_compatible(same, host)) << "the hypervisor bit is the VMM's own";
  std::vector<kvm_cpuid_entry2> more = {amd, leaf(1, 0, 0, 0x1, 0x1), leaf(7, 0, 0x8 | 0x20, 0, 0)};
  try {
    check_cpu_compatible(more, host);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CPUID.7.0:EBX bit 5"), std::string::npos) << e.what();
  }
  std::vector<kvm_cpuid_entry2> other = {intel, leaf(1, 0, 0, 0x1, 0x1)};
  try {
    check_cpu_compatible(other, host);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("GenuineIntel"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace thaw::vmm
