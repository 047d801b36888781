#include "guest/image/elf_dependencies.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <optional>
#include <set>

#include "base/error.h"
#include "base/mapping.h"
#include "base/unique_fd.h"

namespace thaw::image {
namespace {

template <typename T>
T read_struct(std::span<const std::byte> file, std::uint64_t off) {
  if (off > file.size() || file.size() - off < sizeof(T)) throw Error("ELF: structure past the end of the file");
  T v;
  std::memcpy(&v, file.data() + off, sizeof(T));
  return v;
}

// File offset of virtual address `addr`, through the PT_LOAD segments.
std::uint64_t vaddr_to_offset(const std::vector<Elf64_Phdr>& loads, std::uint64_t addr) {
  for (const auto& ph : loads)
    if (addr >= ph.p_vaddr && addr - ph.p_vaddr < ph.p_filesz) return ph.p_offset + (addr - ph.p_vaddr);
  throw Error("ELF: address outside every loaded segment");
}

std::string read_cstring(std::span<const std::byte> file, std::uint64_t off) {
  if (off >= file.size()) throw Error("ELF: string past the end of the file");
  auto p = reinterpret_cast<const char*>(file.data() + off);
  std::size_t n = strnlen(p, file.size() - off);
  if (n == file.size() - off) throw Error("ELF: unterminated string");
  return std::string(p, n);
}

}  // namespace

ElfDependencies parse_elf_dependencies(std::span<const std::byte> file) {
  auto eh = read_struct<Elf64_Ehdr>(file, 0);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) throw Error("not an ELF file");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
    throw Error("not a 64-bit little-endian ELF file");
  if (eh.e_phentsize != sizeof(Elf64_Phdr) && eh.e_phnum != 0) throw Error("ELF: unexpected program header size");
  ElfDependencies deps;
  std::vector<Elf64_Phdr> loads;
  std::optional<Elf64_Phdr> dynamic;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    auto ph = read_struct<Elf64_Phdr>(file, eh.e_phoff + std::uint64_t(i) * sizeof(Elf64_Phdr));
    if (ph.p_type == PT_LOAD) loads.push_back(ph);
    if (ph.p_type == PT_DYNAMIC) dynamic = ph;
    if (ph.p_type == PT_INTERP) deps.interpreter = read_cstring(file, ph.p_offset);
  }
  if (!dynamic) return deps;
  std::uint64_t strtab = 0;
  bool have_strtab = false;
  std::vector<std::uint64_t> needed_offsets;
  for (std::uint64_t off = dynamic->p_offset; off + sizeof(Elf64_Dyn) <= dynamic->p_offset + dynamic->p_filesz;
       off += sizeof(Elf64_Dyn)) {
    auto d = read_struct<Elf64_Dyn>(file, off);
    if (d.d_tag == DT_NULL) break;
    if (d.d_tag == DT_STRTAB) {
      strtab = d.d_un.d_ptr;
      have_strtab = true;
    }
    if (d.d_tag == DT_NEEDED) needed_offsets.push_back(d.d_un.d_val);
  }
  if (needed_offsets.empty()) return deps;
  if (!have_strtab) throw Error("ELF: DT_NEEDED without DT_STRTAB");
  std::uint64_t strtab_off = vaddr_to_offset(loads, strtab);
  for (auto n : needed_offsets) {
    if (n > file.size() - std::min<std::uint64_t>(strtab_off, file.size())) throw Error("ELF: bad DT_NEEDED offset");
    deps.needed.push_back(read_cstring(file, strtab_off + n));
  }
  return deps;
}

ElfDependencies read_elf_dependencies(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw_errno("fstat", path);
  if (st.st_size == 0) throw Error("not an ELF file (empty): " + path);
  auto map = Mapping::map(static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd.get(), 0, path.c_str());
  try {
    return parse_elf_dependencies(map.bytes());
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + ": " + path);
  }
}

std::string find_library(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), R_OK) == 0 ? name : "";
  static const char* const kDirs[] = {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
                                      "/lib", "/usr/lib"};
  for (const char* dir : kDirs) {
    std::string p = std::string(dir) + "/" + name;
    if (::access(p.c_str(), R_OK) == 0) return p;
  }
  return "";
}

std::vector<std::string> resolve_library_closure(const std::string& path, std::vector<std::string>& missing) {
  std::vector<std::string> out;
  std::set<std::string> seen_names;
  std::deque<std::string> todo{path};
  bool first = true;
  while (!todo.empty()) {
    auto file = todo.front();
    todo.pop_front();
    auto deps = read_elf_dependencies(file);
    if (first && !deps.interpreter.empty()) out.push_back(deps.interpreter);
    first = false;
    for (const auto& name : deps.needed) {
      if (!seen_names.insert(name).second) continue;
      auto lib = find_library(name);
      if (lib.empty()) {
        missing.push_back(name);
        continue;
      }
      out.push_back(lib);
      todo.push_back(lib);
    }
  }
  return out;
}

}  // namespace thaw::image
