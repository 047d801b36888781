#pragma once
// What the image builder takes from the host for every guest: busybox and its applets, the
// kernel modules the agent loads, and the python3.11 runtime (interpreter, the libraries it
// loads, a pruned standard library). Each adds to an ImageTree and reports what it did.
#include <string>
#include <vector>

#include "guest/image/image_tree.h"

namespace thaw::image {

// Kernel version from a kernel file name ("/boot/vmlinuz-6.1.0-56-amd64" → "6.1.0-56-amd64"),
// or "" if the name does not say.
std::string kernel_version_from_path(const std::string& kernel_path);
// The newest /boot/vmlinuz-* by version order; throws thaw::Error if there is none.
std::string newest_kernel(const std::string& boot_dir = "/boot");

// The guest's modules in load order, dependencies first, from `modules_dir`/modules.dep.
// Modules built into the kernel (modules.builtin) are skipped. Returns host paths.
std::vector<std::string> resolve_modules(const std::string& modules_dir, const std::vector<std::string>& names);
// virtio transport and console: what the agent needs to reach the host.
const std::vector<std::string>& default_guest_modules();
// The network card's driver (virtio_net, with what it needs beyond the defaults).
const std::vector<std::string>& guest_network_modules();

// /bin/busybox (a static build) plus one symlink per applet it lists, where the host keeps
// that directory ("bin/sh" lands in /usr/bin when /bin is a symlink to usr/bin).
void add_busybox(ImageTree& tree, const std::string& busybox_path);

// Adds `binary` and every library it loads. Throws if one of them is missing.
void add_binary_with_libraries(ImageTree& tree, const std::string& binary);

struct PythonLayout {
  std::string interpreter = "/usr/bin/python3.11";
  std::string stdlib = "/usr/lib/python3.11";
};
// Top-level names of the standard library a function never needs (tests, GUI, packaging
// tools, the static libpython under config-*): left out of images.
bool is_pruned_stdlib_entry(const std::string& relative, bool is_directory);
// The interpreter, its libraries, the pruned stdlib with its precompiled bytecode, and the
// libraries the extension modules in lib-dynload load (missing ones go to `warnings`).
void add_python_runtime(ImageTree& tree, const PythonLayout& layout, std::vector<std::string>& warnings);

}  // namespace thaw::image
