#include "guest/image/python_runtime_libraries.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "base/error.h"

namespace thaw::image {
namespace fs = std::filesystem;

namespace {

struct Library {
  const char* module;        // a package directory or a module file (".py") in dist-packages
  const char* distribution;  // its *.egg-info / *.dist-info prefix
  const char* debian_package;
  bool aws_sdk;              // false: the runtime's own (required)
};

// Debian's requests takes charset_normalizer or chardet; the first is the smaller.
constexpr Library kLibraries[] = {
    {"simplejson", "simplejson-", "python3-simplejson", false},
    {"boto3", "boto3-", "python3-boto3", true},
    {"botocore", "botocore-", "python3-botocore", true},
    {"s3transfer", "s3transfer-", "python3-s3transfer", true},
    {"jmespath", "jmespath-", "python3-jmespath", true},
    {"dateutil", "python_dateutil-", "python3-dateutil", true},
    {"urllib3", "urllib3-", "python3-urllib3", true},
    {"requests", "requests-", "python3-requests", true},
    {"certifi", "certifi-", "python3-certifi", true},
    {"idna", "idna-", "python3-idna", true},
    {"charset_normalizer", "charset_normalizer-", "python3-charset-normalizer", true},
    {"six.py", "six-", "python3-six", true},
};

constexpr std::string_view kAwsSdkNames[] = {"boto3", "botocore", "s3transfer"};
constexpr std::uintmax_t kMaxScannedFileBytes = 16u << 20;

constexpr const char* kDebianCaBundle = "/etc/ssl/certs/ca-certificates.crt";

// Bytecode for other interpreters than the guest's is dead weight.
bool keep_entry(const std::string& relative, bool is_directory) {
  auto p = fs::path(relative);
  if (is_directory || p.parent_path().filename() != "__pycache__") return true;
  return p.filename().string().find(".cpython-311.") != std::string::npos;
}

bool is_service_model(const std::string& relative) {
  return relative.rfind("data/", 0) == 0 && relative.ends_with(".json");
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw SystemError("open", path, errno);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Compressed models by (path, size, mtime): an engine builds many images from one botocore.
std::shared_ptr<const std::string> compressed_model(const std::string& path, const struct stat& st) {
  static std::mutex mu;
  static std::map<std::tuple<std::string, off_t, time_t>, std::shared_ptr<const std::string>> cache;
  auto key = std::make_tuple(path, st.st_size, st.st_mtime);
  {
    std::lock_guard lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  auto gz = std::make_shared<const std::string>(gzip_compress(read_file(path)));
  std::lock_guard lock(mu);
  return cache.emplace(key, std::move(gz)).first->second;
}

void add_botocore(ImageTree& tree, const std::string& host_dir, const std::string& guest_dir,
                  PythonLibrariesResult& result) {
  tree.add_host_tree(host_dir, guest_dir, [](const std::string& rel, bool dir) {
    return keep_entry(rel, dir) && (dir || !is_service_model(rel));
  }, true);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(host_dir + "/data", ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    auto relative = it->path().lexically_relative(host_dir).string();
    if (!it->is_regular_file(ec) || !is_service_model(relative) || it->path().filename() == "examples-1.json") continue;
    struct stat st;
    if (::stat(it->path().c_str(), &st) != 0) throw_errno("stat", it->path().string());
    auto gz = compressed_model(it->path().string(), st);
    tree.add_inline_file(guest_dir + "/" + relative + ".gz", *gz, 0644, cpio_time(st.st_mtime));
    ++result.compressed_models;
    result.model_bytes += std::uint64_t(st.st_size);
    result.compressed_model_bytes += gz->size();
  }
  if (ec) throw SystemError("readdir", host_dir + "/data", ec.value());
}

// dist-packages' *.egg-info and *.dist-info entries, listed once for all the libraries.
std::vector<fs::path> distribution_infos(const std::string& dist_packages) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dist_packages, ec)) {
    auto name = e.path().filename().string();
    if (name.ends_with(".egg-info") || name.ends_with(".dist-info")) out.push_back(e.path());
  }
  return out;
}

void add_distribution_info(ImageTree& tree, const std::vector<fs::path>& infos, const Library& lib) {
  std::error_code ec;
  for (const auto& info : infos) {
    auto name = info.filename().string();
    if (name.rfind(lib.distribution, 0) != 0) continue;
    auto guest = std::string(kRuntimeSitePackages) + "/" + name;
    if (fs::is_directory(info, ec)) {
      tree.add_host_tree(info.string(), guest, {}, true);
    } else {
      tree.add_host_file(guest, info.string());
    }
  }
}

}  // namespace

std::string gzip_compress(std::string_view data, int level) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer around the deflate stream.
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw Error("zlib: deflateInit2 failed");
  std::string out(deflateBound(&z, uLong(data.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = uInt(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw Error("zlib: deflate did not finish");
  return out;
}

RuntimeLibraries parse_runtime_libraries(std::string_view text) {
  if (text == "auto") return RuntimeLibraries::kAuto;
  if (text == "always") return RuntimeLibraries::kAlways;
  if (text == "never") return RuntimeLibraries::kNever;
  throw Error("runtime libraries must be auto, always or never, not '" + std::string(text) + "'");
}

std::string find_aws_sdk_user(const std::vector<std::string>& dirs) {
  for (const auto& dir : dirs) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->path().extension() != ".py" || !it->is_regular_file(ec)) continue;
      if (it->file_size(ec) > kMaxScannedFileBytes) continue;
      auto text = read_file(it->path().string());
      for (auto name : kAwsSdkNames)
        if (text.find(name) != std::string::npos) return it->path().string();
    }
  }
  return {};
}

PythonLibrariesResult add_python_runtime_libraries(ImageTree& tree, const std::string& dist_packages, bool with_aws_sdk,
                                                   std::vector<std::string>& warnings) {
  PythonLibrariesResult result;
  result.aws_sdk = with_aws_sdk;
  tree.add_directory(kRuntimeSitePackages);
  auto infos = distribution_infos(dist_packages);
  for (const auto& lib : kLibraries) {
    if (lib.aws_sdk && !with_aws_sdk) continue;
    auto host = dist_packages + "/" + lib.module;
    auto guest = std::string(kRuntimeSitePackages) + "/" + lib.module;
    std::error_code ec;
    auto status = fs::status(host, ec);
    if (ec || !fs::exists(status)) {
      std::string what = std::string(lib.module) + " not found in " + dist_packages + " (install " + lib.debian_package + ")";
      if (!lib.aws_sdk) throw Error("python3.11 runtime: " + what);
      warnings.push_back(what + ": functions that import it fail at INIT");
      continue;
    }
    if (fs::is_directory(status)) {
      if (std::string_view(lib.module) == "botocore") {
        add_botocore(tree, host, guest, result);
      } else {
        tree.add_host_tree(host, guest, keep_entry, true);
      }
    } else {
      tree.add_host_file(guest, host);
      auto stem = fs::path(lib.module).stem().string();
      auto pyc = "/__pycache__/" + stem + ".cpython-311.pyc";
      if (fs::exists(dist_packages + pyc, ec)) tree.add_host_file(kRuntimeSitePackages + pyc, dist_packages + pyc);
    }
    add_distribution_info(tree, infos, lib);
    ++result.packages;
  }
  if (!with_aws_sdk) return result;
  if (::access(kDebianCaBundle, R_OK) == 0) {
    tree.add_host_file(kDebianCaBundle, kDebianCaBundle);
  } else {
    warnings.push_back(std::string(kDebianCaBundle) + " not found (install ca-certificates): HTTPS from the function fails");
  }
  return result;
}

}  // namespace thaw::image
