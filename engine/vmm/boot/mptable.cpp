#include "engine/vmm/boot/mptable.h"

#include <cstring>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "engine/vmm/boot/layout.h"

namespace thaw::vmm {
namespace {

using Bytes = std::vector<uint8_t>;
template <typename T>
void le(Bytes& b, T v) {
  for (size_t i = 0; i < sizeof v; ++i) b.push_back(static_cast<uint8_t>(uint64_t(v) >> (8 * i)));
}
uint8_t checksum(const uint8_t* p, size_t n) {
  uint8_t s = 0;
  for (size_t i = 0; i < n; ++i) s = static_cast<uint8_t>(s + p[i]);
  return static_cast<uint8_t>(-s);
}

}  // namespace

void write_mptable(const GuestMemoryView& memory, unsigned vcpus) {
  if (vcpus == 0 || vcpus > layout::kMaxVcpus) throw Error("mptable: bad vCPU count");
  const uint64_t fp_addr = layout::kEbda, table_addr = layout::kEbda + 16;
  const uint8_t ioapic_id = static_cast<uint8_t>(vcpus);
  Bytes entries;
  uint16_t count = 0;
  for (unsigned i = 0; i < vcpus; ++i, ++count) {
    entries.insert(entries.end(), {0, static_cast<uint8_t>(i), 0x14, static_cast<uint8_t>(i == 0 ? 3 : 1)});
    le<uint32_t>(entries, 0x600);  // CPU signature
    le<uint32_t>(entries, 0x201);  // features: FPU, APIC
    le<uint64_t>(entries, 0);
  }
  entries.insert(entries.end(), {1, 0, 'I', 'S', 'A', ' ', ' ', ' '});
  ++count;
  entries.insert(entries.end(), {2, ioapic_id, 0x11, 1});
  le<uint32_t>(entries, static_cast<uint32_t>(layout::kIoapic));
  ++count;
  for (uint8_t irq = 0; irq < 16; ++irq, ++count) {
    entries.insert(entries.end(), {3, 0});  // I/O interrupt, INT
    le<uint16_t>(entries, 0);               // conforming polarity and trigger
    entries.insert(entries.end(), {0, irq, ioapic_id, irq});
  }
  entries.insert(entries.end(), {4, 3, 0, 0, 0, 0, 0, 0});     // ExtINT -> LINT0 of APIC 0
  entries.insert(entries.end(), {4, 1, 0, 0, 0, 0, 0xff, 1});  // NMI -> LINT1 of all APICs
  count += 2;

  Bytes table;
  table.insert(table.end(), {'P', 'C', 'M', 'P'});
  le<uint16_t>(table, static_cast<uint16_t>(44 + entries.size()));
  table.push_back(4);  // spec revision 1.4
  table.push_back(0);  // checksum
  for (char c : std::string_view("THAW    THAWVM      ")) table.push_back(static_cast<uint8_t>(c));
  le<uint32_t>(table, 0);
  le<uint16_t>(table, 0);
  le<uint16_t>(table, count);
  le<uint32_t>(table, static_cast<uint32_t>(layout::kLapic));
  le<uint16_t>(table, 0);
  table.push_back(0);
  table.push_back(0);
  table.insert(table.end(), entries.begin(), entries.end());
  table[7] = checksum(table.data(), table.size());

  Bytes fp{'_', 'M', 'P', '_'};
  le<uint32_t>(fp, static_cast<uint32_t>(table_addr));
  fp.insert(fp.end(), {1, 4, 0, 0, 0, 0, 0, 0});
  fp[10] = checksum(fp.data(), fp.size());

  if (table_addr + table.size() > layout::kLowMemEnd) throw Error("mptable: too many vCPUs for the table area");
  std::byte* p = memory.translate(fp_addr, 16 + table.size());
  if (!p) throw Error("mptable: outside guest memory");
  std::memcpy(p, fp.data(), fp.size());
  std::memcpy(p + 16, table.data(), table.size());
}

}  // namespace thaw::vmm
