#pragma once
// Host side of the after-restore hooks: what the host hands each restored clone so that no
// two clones of one snapshot share randomness, a stale clock or an identity.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace thaw::hooks {

struct HostHookOptions {
  // Debug only: send no entropy, so clones keep the snapshot's CRNG state. Exists so that the
  // uniqueness test can show it would fail without the hooks.
  bool skip_entropy = false;
  // Debug only: leave the VM Generation ID as the snapshot had it (no change, no interrupt), so
  // the guest kernel does not reseed itself on restore. With skip_entropy too, clones repeat
  // the snapshot's kernel CRNG output: the control that shows what each layer contributes.
  bool skip_vm_generation_id = false;
  size_t entropy_bytes = 64;
  std::string function_version = "$LATEST";
};

// The after-restore message's content.
struct AfterRestoreContext {
  std::vector<std::byte> entropy;  // from the host's getrandom(); empty if skipped
  // The clone's new VM Generation ID (16 bytes, from getrandom()); empty if skipped.
  std::vector<std::byte> vm_generation_id;
  int64_t wall_clock_ns = 0;       // host CLOCK_REALTIME at send time
  std::string sandbox_id;          // new UUID v4
  std::string log_stream_name;     // "YYYY/MM/DD/[$LATEST]<32 hex>", as Lambda names them
};

AfterRestoreContext make_after_restore_context(const HostHookOptions& options = {});

// A random RFC 4122 version 4 UUID from getrandom().
std::string new_uuid_v4();
// Lambda's log stream name for a new execution environment of `version` created at `unix_ns`.
std::string log_stream_name(const std::string& version, int64_t unix_ns);

}  // namespace thaw::hooks
