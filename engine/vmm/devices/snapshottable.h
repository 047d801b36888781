#pragma once
// A device whose state travels in a snapshot. Each device owns one section of the machine
// state: an id that names it, a version of its own (bumped when its layout changes) and bytes
// only it reads. Vm saves every registered device in turn and, on restore, hands each its own
// section, so adding a device touches its own file and one registration line in Vm.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace thaw::vmm {

struct DeviceSection {
  std::string id;
  uint32_t version = 0;
  std::vector<std::byte> bytes;
};

class Snapshottable {
 public:
  virtual ~Snapshottable() = default;
  virtual std::string snapshot_id() const = 0;
  virtual uint32_t snapshot_version() const = 0;
  // Called with the machine paused (vCPUs parked, device workers stopped).
  virtual std::vector<std::byte> save_section() = 0;
  // Called on a device that has not started yet. Throws thaw::Error for a version this
  // device does not read or bytes that do not decode (never restores half a section).
  virtual void restore_section(uint32_t version, std::span<const std::byte> bytes) = 0;
};

}  // namespace thaw::vmm
