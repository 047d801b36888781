#include "engine/vmm/boot/acpi.h"

#include <cstring>
#include <string>

#include "base/error.h"
#include "engine/vmm/boot/layout.h"

namespace thaw::vmm {
namespace {

using Bytes = std::vector<uint8_t>;

// Byte by byte: GCC 12 at -O3 takes vector::insert of a range into these small vectors for
// an overflow (-Warray-bounds / -Wstringop-overflow false positives).
void append(Bytes& b, const Bytes& more) {
  for (uint8_t x : more) b.push_back(x);
}
void append_str(Bytes& b, const char* s, size_t n) {
  for (size_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(s[i]));
}
template <typename T>
void append_le(Bytes& b, T v) {
  for (size_t i = 0; i < sizeof v; ++i) b.push_back(static_cast<uint8_t>(uint64_t(v) >> (8 * i)));
}

// AML PkgLength prefixing `body` (the encoded length counts its own bytes).
Bytes with_pkg_length(const Bytes& body) {
  size_t n = body.size();
  Bytes out;
  if (n + 1 < 0x40) {
    out.push_back(static_cast<uint8_t>(n + 1));
  } else if (n + 2 < 0x1000) {
    size_t l = n + 2;
    out.push_back(static_cast<uint8_t>(0x40 | (l & 0xf)));
    out.push_back(static_cast<uint8_t>(l >> 4));
  } else {
    size_t l = n + 3;
    out.push_back(static_cast<uint8_t>(0x80 | (l & 0xf)));
    out.push_back(static_cast<uint8_t>((l >> 4) & 0xff));
    out.push_back(static_cast<uint8_t>((l >> 12) & 0xff));
  }
  append(out, body);
  return out;
}

Bytes aml_name(const char name[5], const Bytes& value) {
  Bytes b{0x08};
  append_str(b, name, 4);
  append(b, value);
  return b;
}
Bytes aml_string(const std::string& s) {
  Bytes b{0x0d};
  append_str(b, s.data(), s.size());
  b.push_back(0);
  return b;
}
Bytes aml_integer(uint8_t v) { return v == 0 ? Bytes{0x00} : v == 1 ? Bytes{0x01} : Bytes{0x0a, v}; }
Bytes aml_buffer(const Bytes& data) {
  Bytes body{0x0a, static_cast<uint8_t>(data.size())};
  append(body, data);
  Bytes b{0x11};
  append(b, with_pkg_length(body));
  return b;
}
Bytes aml_device(const char name[5], const Bytes& body) {
  Bytes inner;
  append_str(inner, name, 4);
  append(inner, body);
  Bytes b{0x5b, 0x82};
  append(b, with_pkg_length(inner));
  return b;
}
Bytes aml_dword(uint32_t v) {
  Bytes b{0x0c};
  append_le<uint32_t>(b, v);
  return b;
}
Bytes aml_package(const std::vector<Bytes>& elements) {
  Bytes body{static_cast<uint8_t>(elements.size())};
  for (const Bytes& e : elements) append(body, e);
  Bytes b{0x12};
  append(b, with_pkg_length(body));
  return b;
}
// Method(name, args) { body }, not serialized.
Bytes aml_method(const char name[5], uint8_t args, const Bytes& body) {
  Bytes inner;
  append_str(inner, name, 4);
  inner.push_back(args & 7);
  append(inner, body);
  Bytes b{0x14};
  append(b, with_pkg_length(inner));
  return b;
}
// Notify(\_SB.<device>, value)
Bytes aml_notify_sb(const char device[5], uint8_t value) {
  Bytes b{0x86, '\\', 0x2f, 0x02, '_', 'S', 'B', '_'};
  append_str(b, device, 4);
  b.push_back(0x0a);
  b.push_back(value);
  return b;
}
// Extended Interrupt descriptor: consumer, edge, active high, exclusive, one GSI.
Bytes extended_irq_descriptor(uint32_t gsi) {
  Bytes b{0x89, 6, 0, 0x03, 1};
  append_le<uint32_t>(b, gsi);
  return b;
}
Bytes irq_descriptor(unsigned irq) {  // IRQNoFlags: edge, active high
  uint16_t mask = static_cast<uint16_t>(1u << irq);
  return {0x22, static_cast<uint8_t>(mask), static_cast<uint8_t>(mask >> 8)};
}
Bytes end_tag() { return {0x79, 0x00}; }

uint8_t checksum(const uint8_t* p, size_t n) {
  uint8_t s = 0;
  for (size_t i = 0; i < n; ++i) s = static_cast<uint8_t>(s + p[i]);
  return static_cast<uint8_t>(-s);
}

// Standard 36-byte header; length and checksum are fixed up by finish().
Bytes header(const char sig[5], uint8_t revision) {
  Bytes b;
  append_str(b, sig, 4);
  append_le<uint32_t>(b, 0);
  b.push_back(revision);
  b.push_back(0);
  append_str(b, "THAW  ", 6);
  append_str(b, "THAWVM  ", 8);
  append_le<uint32_t>(b, 1);
  append_str(b, "THAW", 4);
  append_le<uint32_t>(b, 1);
  return b;
}
void finish(Bytes& t) {
  uint32_t len = static_cast<uint32_t>(t.size());
  std::memcpy(t.data() + 4, &len, 4);
  t[9] = 0;
  t[9] = checksum(t.data(), t.size());
}
void gas_io(Bytes& b, uint16_t port) {  // Generic Address Structure, system I/O, one byte
  b.insert(b.end(), {1, 8, 0, 1});
  append_le<uint64_t>(b, port);
}

// The VM Generation ID device and the GED whose event notifies it (see acpi.h).
Bytes vmgenid_devices(const VmGenIdSlot& v) {
  Bytes vgen = aml_name("_HID", aml_string("THAWVGID"));
  append(vgen, aml_name("_CID", aml_string("VM_GEN_COUNTER")));
  append(vgen, aml_name("_DDN", aml_string("VM_Gen_Counter")));
  append(vgen, aml_name("ADDR", aml_package({aml_dword(static_cast<uint32_t>(v.id_addr)),
                                             aml_dword(static_cast<uint32_t>(v.id_addr >> 32))})));
  Bytes out = aml_device("VGEN", vgen);

  Bytes crs = extended_irq_descriptor(v.ged_gsi);
  append(crs, end_tag());
  Bytes ged = aml_name("_HID", aml_string("ACPI0013"));
  append(ged, aml_name("_UID", aml_integer(0)));
  append(ged, aml_name("_CRS", aml_buffer(crs)));
  append(ged, aml_method("_EVT", 1, aml_notify_sb("VGEN", 0x80)));
  append(out, aml_device("GED_", ged));
  return out;
}

}  // namespace

std::vector<uint8_t> build_dsdt_aml(std::span<const VirtioMmioSlot> virtio, std::optional<VmGenIdSlot> vmgenid) {
  Bytes sb;  // contents of Scope(\_SB)
  {
    Bytes crs{0x47, 0x01};  // IO(Decode16, 0x3f8, 0x3f8, 1, 8)
    append_le<uint16_t>(crs, layout::kSerialPort);
    append_le<uint16_t>(crs, layout::kSerialPort);
    crs.insert(crs.end(), {1, 8});
    append(crs, irq_descriptor(layout::kSerialIrq));
    append(crs, end_tag());
    Bytes dev = aml_name("_HID", aml_string("PNP0501"));
    append(dev, aml_name("_UID", aml_integer(0)));
    append(dev, aml_name("_CRS", aml_buffer(crs)));
    append(sb, aml_device("COM1", dev));
  }
  for (size_t i = 0; i < virtio.size(); ++i) {
    const VirtioMmioSlot& v = virtio[i];
    if (v.irq >= 16) throw Error("acpi: virtio-mmio IRQ must be below 16");
    Bytes crs{0x86, 0x09, 0x00, 0x01};  // Memory32Fixed(ReadWrite, base, size)
    append_le<uint32_t>(crs, static_cast<uint32_t>(v.base));
    append_le<uint32_t>(crs, v.size);
    append(crs, irq_descriptor(v.irq));
    append(crs, end_tag());
    Bytes dev = aml_name("_HID", aml_string("LNRO0005"));
    append(dev, aml_name("_UID", aml_integer(static_cast<uint8_t>(i))));
    append(dev, aml_name("_CRS", aml_buffer(crs)));
    char name[5] = {'V', 'R', static_cast<char>('0' + i / 10), static_cast<char>('0' + i % 10), 0};
    append(sb, aml_device(name, dev));
  }
  if (vmgenid) append(sb, vmgenid_devices(*vmgenid));
  Bytes scope_body{'\\', '_', 'S', 'B', '_'};
  append(scope_body, sb);
  Bytes aml{0x10};
  append(aml, with_pkg_length(scope_body));
  Bytes s5_pkg{0x04};  // NumElements
  append(s5_pkg, aml_integer(kAcpiS5SleepType));
  append(s5_pkg, aml_integer(0));
  append(s5_pkg, aml_integer(0));
  append(s5_pkg, aml_integer(0));
  Bytes package{0x12};
  append(package, with_pkg_length(s5_pkg));
  append(aml, aml_name("_S5_", package));
  return aml;
}

uint64_t write_acpi_tables(const GuestMemoryView& memory, unsigned vcpus, std::span<const VirtioMmioSlot> virtio,
                           std::optional<VmGenIdSlot> vmgenid) {
  const uint64_t rsdp_addr = layout::kAcpi, xsdt_addr = layout::kAcpi + 0x40, fadt_addr = layout::kAcpi + 0x100,
                 madt_addr = layout::kAcpi + 0x400, dsdt_addr = layout::kAcpi + 0x1000;

  Bytes dsdt = header("DSDT", 2);
  append(dsdt, build_dsdt_aml(virtio, vmgenid));
  finish(dsdt);

  Bytes fadt = header("FACP", 6);
  fadt.resize(276, 0);
  auto put32 = [&](size_t off, uint32_t v) { std::memcpy(fadt.data() + off, &v, 4); };
  auto put16 = [&](size_t off, uint16_t v) { std::memcpy(fadt.data() + off, &v, 2); };
  auto put64 = [&](size_t off, uint64_t v) { std::memcpy(fadt.data() + off, &v, 8); };
  put32(40, static_cast<uint32_t>(dsdt_addr));
  // IAPC_BOOT_ARCH: no VGA (bit 2), no MSI disabled, no CMOS RTC (bit 5); bit 1 clear = no i8042.
  put16(109, (1u << 2) | (1u << 5));
  // Flags: WBINVD (0), power and sleep buttons absent (4, 5), HW_REDUCED_ACPI (20).
  put32(112, (1u << 0) | (1u << 4) | (1u << 5) | (1u << 20));
  fadt[131] = 0;  // minor version
  put64(140, dsdt_addr);
  {
    Bytes g;
    gas_io(g, layout::kAcpiSleepControlPort);
    std::memcpy(fadt.data() + 244, g.data(), 12);
    g.clear();
    gas_io(g, layout::kAcpiSleepStatusPort);
    std::memcpy(fadt.data() + 256, g.data(), 12);
  }
  std::memcpy(fadt.data() + 268, "THAWVMM\0", 8);
  finish(fadt);

  Bytes madt = header("APIC", 4);
  append_le<uint32_t>(madt, static_cast<uint32_t>(layout::kLapic));
  append_le<uint32_t>(madt, 0);  // flags: no PC-AT dual 8259 for the guest to drive
  for (unsigned i = 0; i < vcpus; ++i) {
    madt.insert(madt.end(), {0, 8, static_cast<uint8_t>(i), static_cast<uint8_t>(i)});
    append_le<uint32_t>(madt, 1);  // enabled
  }
  madt.insert(madt.end(), {1, 12, static_cast<uint8_t>(vcpus), 0});
  append_le<uint32_t>(madt, static_cast<uint32_t>(layout::kIoapic));
  append_le<uint32_t>(madt, 0);  // GSI base
  finish(madt);

  Bytes xsdt = header("XSDT", 1);
  append_le<uint64_t>(xsdt, fadt_addr);
  append_le<uint64_t>(xsdt, madt_addr);
  finish(xsdt);

  Bytes rsdp;
  append_str(rsdp, "RSD PTR ", 8);
  rsdp.push_back(0);
  append_str(rsdp, "THAW  ", 6);
  rsdp.push_back(2);
  append_le<uint32_t>(rsdp, 0);   // no RSDT
  append_le<uint32_t>(rsdp, 36);  // length
  append_le<uint64_t>(rsdp, xsdt_addr);
  rsdp.push_back(0);
  rsdp.insert(rsdp.end(), {0, 0, 0});
  rsdp[8] = checksum(rsdp.data(), 20);
  rsdp[32] = checksum(rsdp.data(), 36);

  if (madt.size() > dsdt_addr - madt_addr || fadt.size() > madt_addr - fadt_addr ||
      dsdt_addr + dsdt.size() > layout::kAcpiEnd)
    throw Error("acpi: tables do not fit");
  auto write = [&](uint64_t gpa, const Bytes& t) {
    std::byte* p = memory.translate(gpa, t.size());
    if (!p) throw Error("acpi: tables outside guest memory");
    std::memcpy(p, t.data(), t.size());
  };
  write(rsdp_addr, rsdp);
  write(xsdt_addr, xsdt);
  write(fadt_addr, fadt);
  write(madt_addr, madt);
  write(dsdt_addr, dsdt);
  return rsdp_addr;
}

}  // namespace thaw::vmm
