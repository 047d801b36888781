#pragma once
// Builds a function image: a directory with config.json (the function's configuration and
// the identity of what it boots), a reference to (or copy of) the guest kernel, and
// initramfs.cpio, the guest's whole root filesystem:
//   /init                 the guest agent (PID 1)
//   /usr/bin/busybox      and its applets
//   /etc/thaw/modules     kernel modules the agent loads, in order (files under /usr/lib/modules)
//   /etc/thaw/net-modules those it loads when its sandbox has a network card (virtio_net)
//   /var/runtime          the runtime's bootstrap and interface client (python3.11)
//   /usr/bin/python3.11   with its libraries and a pruned stdlib (python3.11)
//   /var/lang/lib/python3.11/site-packages   boto3, botocore, simplejson ... (python3.11)
//   /var/task             the function's code
//   /opt                  the function's layers, unpacked in order (a later one's files win)
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "guest/image/function_config.h"
#include "guest/image/python_runtime_libraries.h"

namespace thaw::image {

struct ImageBuildOptions {
  FunctionConfig function;  // an empty name is taken from the code directory's name
  std::string code_dir;
  std::vector<std::string> layer_dirs;  // unpacked layers, in the function's order
  std::string out_dir;
  std::string agent_path;   // the guest agent binary, becomes /init
  std::string kernel_path;  // empty: the newest /boot/vmlinuz-*
  std::string modules_dir;  // empty: /lib/modules/<version of the kernel>
  bool copy_kernel = false;
  std::string busybox_path = "/bin/busybox";
  std::string python_interpreter = "/usr/bin/python3.11";
  std::string python_stdlib = "/usr/lib/python3.11";
  // Where Debian keeps boto3, botocore, simplejson ...: the python3.11 runtime's libraries
  // (guest/image/python_runtime_libraries.h).
  std::string python_dist_packages = "/usr/lib/python3/dist-packages";
  RuntimeLibraries runtime_libraries = RuntimeLibraries::kAuto;
  std::string runtimes_dir;  // the source tree's guest/runtimes
  std::vector<std::string> modules;  // empty: default_guest_modules()
  bool precompile = true;    // python3.11: bytecode for /var/runtime and /var/task, made at build time
};

struct ImageBuildResult {
  ImageConfig config;
  std::uint64_t files = 0;        // regular files in the initramfs
  std::uint64_t entries = 0;      // all entries (files, directories, links, devices)
  std::uint64_t file_bytes = 0;   // their contents
  double seconds = 0;
  std::vector<std::string> warnings;
};

using ProgressFn = std::function<void(std::string_view)>;

// Validates the options (clear thaw::Error on bad input), assembles and writes the image.
// An existing out_dir is replaced only if it is empty or holds an image.
ImageBuildResult build_image(const ImageBuildOptions& options, const ProgressFn& progress = {});

// Function name derived from a directory name: invalid characters become '-', at most 64.
std::string function_name_from_dir(const std::string& dir);

}  // namespace thaw::image
