// bzImage header parsing, the zero page / e820 / page tables the loader writes, ACPI and MP
// tables, and CPUID normalisation, all on plain buffers (no KVM).
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "base/error.h"
#include "engine/vmm/boot/acpi.h"
#include "engine/vmm/boot/bzimage.h"
#include "engine/vmm/boot/layout.h"
#include "engine/vmm/boot/linux_loader.h"
#include "engine/vmm/boot/mptable.h"
#include "engine/vmm/cpuid.h"
#include "guest/image/guest_files.h"

namespace thaw::vmm {
namespace {

// A minimal synthetic bzImage: 4 setup sectors + boot sector, protocol 2.15, 64-bit entry.
std::vector<uint8_t> fake_bzimage(size_t kernel_bytes = 4096) {
  std::vector<uint8_t> img(5 * 512 + kernel_bytes, 0);
  img[0x1f1] = 4;
  uint32_t syssize = static_cast<uint32_t>(kernel_bytes / 16);
  std::memcpy(&img[0x1f4], &syssize, 4);
  img[0x1fe] = 0x55;
  img[0x1ff] = 0xaa;
  img[0x200] = 0xeb;
  img[0x201] = 0x6a;  // header ends at 0x26c
  std::memcpy(&img[0x202], "HdrS", 4);
  uint16_t proto = 0x020f;
  std::memcpy(&img[0x206], &proto, 2);
  img[0x211] = 0x01;  // LOADED_HIGH
  uint32_t initrd_max = 0x7fffffff, cmdline_size = 2047;
  std::memcpy(&img[0x22c], &initrd_max, 4);
  std::memcpy(&img[0x238], &cmdline_size, 4);
  uint16_t xload = 0x1;
  std::memcpy(&img[0x236], &xload, 2);
  for (size_t i = 5 * 512; i < img.size(); ++i) img[i] = static_cast<uint8_t>(i);
  return img;
}

TEST(BzImage, ParsesTheSetupHeader) {
  auto img = fake_bzimage();
  BzImageInfo info = parse_bzimage(img, "fake");
  EXPECT_EQ(info.protocol, 0x020f);
  EXPECT_EQ(info.setup_bytes, 5u * 512);
  EXPECT_EQ(info.kernel.size(), 4096u);
  EXPECT_EQ(info.cmdline_size, 2047u);
  EXPECT_EQ(info.setup_header.size(), 0x26cu - 0x1f1u);
}

TEST(BzImage, RejectsWrongAndTruncatedFiles) {
  auto img = fake_bzimage();
  std::vector<uint8_t> empty;
  EXPECT_THROW(parse_bzimage(empty, "empty"), Error);
  auto bad = img;
  std::memcpy(&bad[0x202], "NOPE", 4);
  EXPECT_THROW(parse_bzimage(bad, "x"), Error);
  bad = img;
  bad[0x206] = 0x0b;  // protocol 2.11
  EXPECT_THROW(parse_bzimage(bad, "x"), Error);
  bad = img;
  bad[0x236] = 0;  // no 64-bit entry
  EXPECT_THROW(parse_bzimage(bad, "x"), Error);
  bad = img;
  bad[0x201] = 0xff;  // a longer header is fine while it stays inside the setup code
  bad[0x1f1] = 0;     // setup_sects 0 means 4
  EXPECT_NO_THROW(parse_bzimage(bad, "x"));
  std::vector<uint8_t> truncated(img.begin(), img.begin() + 5 * 512 + 100);
  try {
    parse_bzimage(truncated, "short");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos);
  }
  for (size_t n : {size_t{0x100}, size_t{0x267}, size_t{5 * 512}}) {
    std::vector<uint8_t> cut(img.begin(), img.begin() + static_cast<ptrdiff_t>(n));
    EXPECT_THROW(parse_bzimage(cut, "cut"), Error) << n;
  }
}

TEST(BzImage, ParsesDebiansKernelWhenPresent) {
  std::string path;
  try {
    path = image::newest_kernel();
  } catch (const Error& e) {
    GTEST_SKIP() << e.what();
  }
  auto img = read_file(path);
  BzImageInfo info = parse_bzimage(img, path);
  EXPECT_GE(info.protocol, 0x020f);
  EXPECT_GT(info.kernel.size(), 1u << 20);
}

struct FakeRam {
  static constexpr uint64_t kSize = 64ull << 20;
  std::vector<std::byte> mem = std::vector<std::byte>(kSize);
  GuestMemoryView view{{{0, mem.data(), kSize}}};
  template <typename T>
  T get(uint64_t gpa) {
    T v;
    std::memcpy(&v, mem.data() + gpa, sizeof v);
    return v;
  }
};

TEST(LinuxLoader, BuildsZeroPageE820CmdlineInitrdAndPageTables) {
  FakeRam ram;
  auto img = fake_bzimage();
  std::vector<uint8_t> initrd(10000, 0xab);
  LinuxBootSpec spec{img, "fake", initrd, "console=ttyS0 quiet", FakeRam::kSize, 0xe0000};
  BootEntry e = load_linux(ram.view, spec);
  EXPECT_EQ(e.rip, layout::kKernelLoad + 0x200);
  EXPECT_EQ(e.rsi, layout::kZeroPage);
  const uint64_t zp = layout::kZeroPage;
  EXPECT_EQ(ram.get<uint32_t>(zp + 0x202), 0x53726448u);  // "HdrS" copied
  EXPECT_EQ(ram.get<uint8_t>(zp + 0x210), 0xff);           // type_of_loader
  EXPECT_EQ(ram.get<uint32_t>(zp + 0x228), layout::kCmdline);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(ram.mem.data() + layout::kCmdline)), "console=ttyS0 quiet");
  uint32_t initrd_addr = ram.get<uint32_t>(zp + 0x218);
  EXPECT_EQ(ram.get<uint32_t>(zp + 0x21c), 10000u);
  EXPECT_EQ(initrd_addr % 4096, 0u);
  EXPECT_LE(initrd_addr + 10000ull, FakeRam::kSize);
  EXPECT_EQ(ram.get<uint8_t>(initrd_addr), 0xab);
  EXPECT_EQ(ram.get<uint64_t>(zp + 0x070), 0xe0000u);
  ASSERT_EQ(ram.get<uint8_t>(zp + 0x1e8), 4);
  EXPECT_EQ(ram.get<uint64_t>(zp + 0x2d0 + 3 * 20), layout::kKernelLoad);
  EXPECT_EQ(ram.get<uint64_t>(zp + 0x2d0 + 3 * 20 + 8), FakeRam::kSize - layout::kKernelLoad);
  EXPECT_EQ(ram.get<uint8_t>(layout::kKernelLoad), static_cast<uint8_t>(5 * 512));
  // Identity map: PML4[0] -> PDPT, PD entry i maps i * 2 MiB.
  EXPECT_EQ(ram.get<uint64_t>(layout::kPml4), layout::kPdpt | 3);
  EXPECT_EQ(ram.get<uint64_t>(layout::kPd + 8 * 5), (5ull << 21) | 0x83);
}

TEST(LinuxLoader, RejectsOversizedCommandLineAndInitrd) {
  FakeRam ram;
  auto img = fake_bzimage();
  std::string longline(4000, 'x');
  EXPECT_THROW(load_linux(ram.view, {img, "fake", {}, longline, FakeRam::kSize, 0}), Error);
  std::vector<uint8_t> huge(40ull << 20);
  EXPECT_THROW(load_linux(ram.view, {img, "fake", huge, "", FakeRam::kSize, 0}), Error);
}

uint8_t sum(const std::byte* p, size_t n) {
  uint8_t s = 0;
  for (size_t i = 0; i < n; ++i) s = static_cast<uint8_t>(s + std::to_integer<uint8_t>(p[i]));
  return s;
}

TEST(Acpi, TablesHaveValidChecksumsAndDescribeTheDevices) {
  FakeRam ram;
  VirtioMmioSlot slot{layout::kVirtioMmioBase, 0x1000, 5};
  uint64_t rsdp = write_acpi_tables(ram.view, 2, {&slot, 1});
  EXPECT_EQ(std::memcmp(ram.mem.data() + rsdp, "RSD PTR ", 8), 0);
  EXPECT_EQ(sum(ram.mem.data() + rsdp, 20), 0);
  EXPECT_EQ(sum(ram.mem.data() + rsdp, 36), 0);
  uint64_t xsdt = ram.get<uint64_t>(rsdp + 24);
  uint32_t xlen = ram.get<uint32_t>(xsdt + 4);
  EXPECT_EQ(sum(ram.mem.data() + xsdt, xlen), 0);
  for (uint32_t off = 36; off < xlen; off += 8) {
    uint64_t t = ram.get<uint64_t>(xsdt + off);
    EXPECT_EQ(sum(ram.mem.data() + t, ram.get<uint32_t>(t + 4)), 0);
  }
  auto aml = build_dsdt_aml({&slot, 1});
  std::string s(reinterpret_cast<char*>(aml.data()), aml.size());
  EXPECT_NE(s.find("LNRO0005"), std::string::npos);
  EXPECT_NE(s.find("PNP0501"), std::string::npos);
  EXPECT_NE(s.find("_S5_"), std::string::npos);
  EXPECT_EQ(s.find("VM_GEN_COUNTER"), std::string::npos) << "no VMGenID device unless asked for";
}

TEST(Acpi, VmGenIdDeviceAndTheGedThatNotifiesIt) {
  VirtioMmioSlot slot{layout::kVirtioMmioBase, 0x1000, 5};
  auto aml = build_dsdt_aml({&slot, 1}, VmGenIdSlot{0x1'2345'6000, 23});
  std::string s(reinterpret_cast<char*>(aml.data()), aml.size());
  EXPECT_NE(s.find("VM_GEN_COUNTER"), std::string::npos) << "the _CID Linux's vmgenid driver matches";
  EXPECT_NE(s.find("ACPI0013"), std::string::npos) << "the Generic Event Device";
  // ADDR: Package(2) { DWord low, DWord high }.
  const std::string addr = std::string("ADDR\x12") + '\x0c' + '\x02' + "\x0c" + std::string("\x00\x60\x45\x23", 4) +
                           "\x0c" + std::string("\x01\x00\x00\x00", 4);
  EXPECT_NE(s.find(addr), std::string::npos);
  // _CRS: one edge, active-high Extended Interrupt for GSI 23.
  EXPECT_NE(s.find(std::string("\x89\x06\x00\x03\x01\x17\x00\x00\x00", 9)), std::string::npos);
  // Method(_EVT, 1) { Notify(\_SB.VGEN, 0x80) }
  const std::string evt = std::string("_EVT\x01\x86\\\x2f\x02_SB_VGEN\x0a\x80");
  EXPECT_NE(s.find(evt), std::string::npos);
}

TEST(MpTable, HasOneProcessorPerVcpuAndValidChecksums) {
  FakeRam ram;
  write_mptable(ram.view, 2);
  const std::byte* fp = ram.mem.data() + layout::kEbda;
  EXPECT_EQ(std::memcmp(fp, "_MP_", 4), 0);
  EXPECT_EQ(sum(fp, 16), 0);
  uint32_t table = ram.get<uint32_t>(layout::kEbda + 4);
  uint16_t len = ram.get<uint16_t>(table + 4);
  EXPECT_EQ(sum(ram.mem.data() + table, len), 0);
  EXPECT_EQ(ram.get<uint8_t>(table + 44), 0);       // processor entry
  EXPECT_EQ(ram.get<uint8_t>(table + 44 + 3), 3);   // enabled, bootstrap
  EXPECT_EQ(ram.get<uint8_t>(table + 64 + 1), 1);   // second CPU's APIC id
  EXPECT_THROW(write_mptable(ram.view, 0), Error);
  EXPECT_THROW(write_mptable(ram.view, 33), Error);
}

TEST(Cpuid, NormalisesApicIdHypervisorBitAndTopology) {
  std::vector<kvm_cpuid_entry2> in(4);
  in[0].function = 1;
  in[0].ebx = 0xff00ffff;
  in[1].function = 0xb;
  in[1].index = 1;
  in[2].function = 0x80000008;
  in[2].ecx = 0xffff;
  in[3].function = 0xa;
  in[3].eax = 0x12345678;
  auto out = normalize_cpuid(in, {3, 4}, true);
  EXPECT_EQ(out[0].ebx >> 24, 3u);
  EXPECT_EQ((out[0].ebx >> 16) & 0xff, 4u);
  EXPECT_EQ(out[0].ebx & 0xffff, 0xffffu);
  EXPECT_TRUE(out[0].ecx & (1u << 31));
  EXPECT_TRUE(out[0].ecx & (1u << 24));
  EXPECT_TRUE(out[0].edx & (1u << 28));
  EXPECT_EQ(out[1].ebx, 4u);
  EXPECT_EQ(out[1].eax, 2u);
  EXPECT_EQ(out[1].edx, 3u);
  EXPECT_EQ(out[2].ecx & 0xff, 3u);
  EXPECT_EQ(out[3].eax, 0u);
  EXPECT_THROW(normalize_cpuid(in, {4, 4}, false), Error);
  auto one = normalize_cpuid(in, {0, 1}, false);
  EXPECT_FALSE(one[0].ecx & (1u << 24));
  EXPECT_FALSE(one[0].edx & (1u << 28));
}

}  // namespace
}  // namespace thaw::vmm
