#pragma once
// What a dynamically linked ELF file needs at load time: its program interpreter and its
// DT_NEEDED libraries. Read from the file itself (as ldd reports it, without running the
// loader), so the image builder can copy a binary with exactly the libraries it loads.
#include <span>
#include <string>
#include <vector>

namespace thaw::image {

struct ElfDependencies {
  std::string interpreter;          // PT_INTERP, e.g. /lib64/ld-linux-x86-64.so.2; empty if static
  std::vector<std::string> needed;  // DT_NEEDED sonames, in file order
};

// Parses a 64-bit little-endian ELF image. Throws thaw::Error if it is not one or is malformed.
ElfDependencies parse_elf_dependencies(std::span<const std::byte> file);
// Reads and parses `path`; throws SystemError if it cannot be read.
ElfDependencies read_elf_dependencies(const std::string& path);

// The host path of soname `name` in the standard library directories, or "" if none has it.
std::string find_library(const std::string& name);

// Every library `path` loads, directly or through other libraries (host paths, first-found
// order), plus its interpreter. Sonames not found go to `missing`.
std::vector<std::string> resolve_library_closure(const std::string& path, std::vector<std::string>& missing);

}  // namespace thaw::image
