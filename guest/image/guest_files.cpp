#include "guest/image/guest_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "base/error.h"
#include "guest/image/elf_dependencies.h"
#include "guest/image/host_command.h"

namespace thaw::image {
namespace fs = std::filesystem;
namespace {

std::string module_name(const std::string& path) {
  auto name = fs::path(path).filename().string();
  auto dot = name.find('.');
  if (dot != std::string::npos) name.resize(dot);
  for (auto& c : name)
    if (c == '-') c = '_';
  return name;
}

std::string canonical_dir(const std::string& dir) {
  std::error_code ec;
  auto c = fs::canonical(dir, ec);
  return ec ? dir : c.string();
}

}  // namespace

std::string kernel_version_from_path(const std::string& kernel_path) {
  auto name = fs::path(kernel_path).filename().string();
  for (const char* prefix : {"vmlinuz-", "bzImage-", "vmlinux-"})
    if (name.rfind(prefix, 0) == 0 && name.size() > std::strlen(prefix)) return name.substr(std::strlen(prefix));
  return "";
}

std::string newest_kernel(const std::string& boot_dir) {
  std::string best, best_version;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(boot_dir, ec)) {
    auto name = e.path().filename().string();
    if (name.rfind("vmlinuz-", 0) != 0) continue;
    auto v = kernel_version_from_path(name);
    if (best.empty() || strverscmp(v.c_str(), best_version.c_str()) > 0) {
      best = e.path().string();
      best_version = v;
    }
  }
  if (best.empty()) throw Error("no kernel found (no " + boot_dir + "/vmlinuz-*): install linux-image-amd64 or pass --kernel");
  return best;
}

const std::vector<std::string>& default_guest_modules() {
  static const std::vector<std::string> kModules = {"virtio_ring", "virtio", "virtio_mmio", "virtio_console"};
  return kModules;
}

const std::vector<std::string>& guest_network_modules() {
  static const std::vector<std::string> kModules = {"virtio_net"};
  return kModules;
}

std::vector<std::string> resolve_modules(const std::string& modules_dir, const std::vector<std::string>& names) {
  std::ifstream dep(modules_dir + "/modules.dep");
  if (!dep) throw Error("cannot read " + modules_dir + "/modules.dep (kernel modules of the guest kernel missing?)");
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> by_name;  // name → (path, deps)
  std::string line;
  while (std::getline(dep, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string path = line.substr(0, colon);
    std::vector<std::string> deps;
    std::istringstream rest(line.substr(colon + 1));
    for (std::string d; rest >> d;) deps.push_back(d);
    by_name[module_name(path)] = {path, deps};
  }
  std::set<std::string> builtin;
  std::ifstream builtin_file(modules_dir + "/modules.builtin");
  while (std::getline(builtin_file, line)) builtin.insert(module_name(line));

  std::vector<std::string> order;
  std::set<std::string> done;
  std::function<void(const std::string&, int)> visit = [&](const std::string& name, int depth) {
    if (depth > 64) throw Error("module dependency loop at " + name);
    if (done.contains(name) || builtin.contains(name)) return;
    auto it = by_name.find(name);
    if (it == by_name.end()) throw Error("kernel module " + name + " not found in " + modules_dir + "/modules.dep");
    for (const auto& d : it->second.second) visit(module_name(d), depth + 1);
    done.insert(name);
    order.push_back(modules_dir + "/" + it->second.first);
  };
  for (const auto& n : names) {
    std::string normal = n;
    for (auto& c : normal)
      if (c == '-') c = '_';
    visit(normal, 0);
  }
  return order;
}

void add_busybox(ImageTree& tree, const std::string& busybox_path) {
  if (::access(busybox_path.c_str(), X_OK) != 0)
    throw Error("busybox not found at " + busybox_path + " (install busybox-static)");
  tree.add_host_path(busybox_path);
  std::string target = canonical_dir(busybox_path);
  auto listed = run_host_command({busybox_path, "--list-full"});
  if (listed.exit_status != 0) throw Error(busybox_path + " --list-full failed; is it busybox?");
  std::istringstream lines(listed.out);
  for (std::string applet; std::getline(lines, applet);) {
    // linuxrc is for the old initrd boot path; an initramfs runs /init.
    if (applet.empty() || applet.find("..") != std::string::npos || applet == "linuxrc") continue;
    auto p = fs::path("/" + applet);
    auto dir = canonical_dir(p.parent_path().string());
    auto guest = (fs::path(dir) / p.filename()).string();
    if (guest == target || tree.contains(guest)) continue;
    tree.add_symlink(guest, target);
  }
}

void add_binary_with_libraries(ImageTree& tree, const std::string& binary) {
  std::vector<std::string> missing;
  auto libs = resolve_library_closure(binary, missing);
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    throw Error(binary + " needs libraries not found on this host: " + list);
  }
  tree.add_host_path(binary);
  for (const auto& lib : libs) tree.add_host_path(lib);
}

bool is_pruned_stdlib_entry(const std::string& relative, bool is_directory) {
  static const std::set<std::string> kDirs = {"test", "idlelib", "tkinter", "ensurepip", "lib2to3", "turtledemo",
                                              "pydoc_data", "venv", "distutils/tests", "unittest/test",
                                              "ctypes/test", "sqlite3/test"};
  static const std::set<std::string> kModules = {"turtle", "sitecustomize", "antigravity",
                                                 "pydoc_data", "idlelib", "tkinter", "ensurepip", "lib2to3",
                                                 "turtledemo", "test", "venv"};
  if (is_directory && (kDirs.contains(relative) || relative.rfind("config-", 0) == 0)) return true;
  if (is_directory && fs::path(relative).filename() == "__pycache__") {
    // Bytecode of a removed module lives in a __pycache__ that stays: filtered per file below.
    return false;
  }
  auto p = fs::path(relative);
  if (relative == "EXTERNALLY-MANAGED") return true;
  // Extension modules for terminals, old databases and NIS, and CPython's own test modules:
  // they would also pull in libdb, krb5 and ncurses.
  static const std::set<std::string> kExtensions = {
      "nis", "_dbm", "_gdbm", "readline", "_curses", "_curses_panel", "ossaudiodev", "_ctypes_test",
      "_testbuffer", "_testcapi", "_testclinic", "_testimportmultiple", "_testinternalcapi", "_testmultiphase",
      "_xxtestfuzz", "xxlimited", "xxlimited_35", "_tkinter"};
  if (!is_directory && p.parent_path() == "lib-dynload") {
    auto stem = p.filename().string();
    if (kExtensions.contains(stem.substr(0, stem.find('.')))) return true;
  }
  // "turtle.py", "__pycache__/turtle.cpython-311.pyc": the module's name is the first dotted part.
  if (!is_directory && (p.parent_path().empty() || p.parent_path() == "__pycache__")) {
    auto stem = p.filename().string();
    stem = stem.substr(0, stem.find('.'));
    if (kModules.contains(stem)) return true;
  }
  return false;
}

void add_python_runtime(ImageTree& tree, const PythonLayout& layout, std::vector<std::string>& warnings) {
  if (::access(layout.interpreter.c_str(), X_OK) != 0)
    throw Error("python3.11 not found at " + layout.interpreter + " (install python3.11)");
  add_binary_with_libraries(tree, layout.interpreter);
  auto stdlib = canonical_dir(layout.stdlib);
  tree.add_host_tree(stdlib, stdlib, [](const std::string& rel, bool dir) { return !is_pruned_stdlib_entry(rel, dir); },
                     false);
  // Extension modules load their own libraries (libssl for _ssl, libffi for _ctypes, ...).
  std::error_code ec;
  std::set<std::string> added;
  for (const auto& e : fs::directory_iterator(stdlib + "/lib-dynload", ec)) {
    if (e.path().extension() != ".so" || is_pruned_stdlib_entry("lib-dynload/" + e.path().filename().string(), false))
      continue;
    std::vector<std::string> missing;
    std::vector<std::string> libs;
    try {
      libs = resolve_library_closure(e.path().string(), missing);
    } catch (const Error& err) {
      warnings.push_back(std::string("skipping ") + err.what());
      continue;
    }
    for (const auto& m : missing)
      warnings.push_back(e.path().filename().string() + " needs " + m + ", not on this host: that module will not import");
    for (const auto& lib : libs)
      if (added.insert(lib).second) tree.add_host_path(lib);
  }
  tree.add_symlink("/usr/bin/python3", "python3.11");
}

}  // namespace thaw::image
