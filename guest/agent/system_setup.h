#pragma once
// What PID 1 of the microVM does before anything else runs: the kernel hands over a bare
// initramfs with no /proc, no /dev nodes beyond what devtmpfs gives, modules unloaded and
// loopback down.
#include <string>
#include <string_view>
#include <vector>

namespace thaw::agent {

// Mounts /proc, /sys, /dev (devtmpfs), /dev/pts, /dev/shm, /tmp and /run. Idempotent.
void mount_filesystems();

// Loads kernel modules (paths of .ko files) in order with finit_module; a module already
// loaded or built in is not an error. Returns the names that failed, with the errno text.
std::vector<std::string> load_modules(const std::vector<std::string>& paths);
// Reads a list of module paths, one a line ('#' comments), e.g. /etc/thaw/modules.
std::vector<std::string> read_module_list(const std::string& file);

// Brings `lo` up; the kernel then gives it 127.0.0.1/8.
void bring_up_loopback();

void set_hostname(std::string_view name);

// Peak resident memory of the guest, in bytes, from /proc/meminfo (MemTotal - MemAvailable
// high-water mark is kept by the caller); 0 if unreadable.
unsigned long long guest_memory_in_use();

}  // namespace thaw::agent
