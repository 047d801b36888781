#pragma once
// The libraries AWS's python3.11 runtime ships beside the interpreter, taken from Debian's
// packages: boto3 with botocore, s3transfer, jmespath, dateutil, urllib3 and what Debian's
// builds of them import (requests, certifi, idna, charset_normalizer, chardet, six), plus
// simplejson, which the runtime's own marshalling uses as AWS's does. They go to
// /var/lang/lib/python3.11/site-packages, where AWS's python3.11 keeps them, a site directory
// the runtime puts after /var/task and /opt, so a function's vendored copy wins.
//
// They take about 25 MB of the guest's memory (an image's root filesystem lives in it), so by
// default (RuntimeLibraries::kAuto) an image has them when the function's code or layers name
// boto3, botocore or s3transfer in a .py file: an import of them, its own or a vendored
// package's, cannot be written without the name. simplejson, which the runtime itself uses,
// is always there.
//
// botocore's service models (82 MB of JSON in Debian's package) are stored gzipped, as botocore
// reads them (service-2.json.gz), about 5x smaller in the guest's memory; the models' usage
// examples (examples-1.json, read only to write documentation) are left out.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "guest/image/image_tree.h"

namespace thaw::image {

inline constexpr const char* kRuntimeSitePackages = "/var/lang/lib/python3.11/site-packages";

enum class RuntimeLibraries { kAuto, kAlways, kNever };
// "auto", "always", "never"; throws thaw::Error on anything else.
RuntimeLibraries parse_runtime_libraries(std::string_view text);

// Whether a .py file under one of `dirs` names boto3, botocore or s3transfer; the first such
// file, or "" when none does.
std::string find_aws_sdk_user(const std::vector<std::string>& dirs);

struct PythonLibrariesResult {
  bool aws_sdk = false;
  unsigned packages = 0;         // top-level packages and modules added
  unsigned compressed_models = 0;
  std::uint64_t model_bytes = 0;             // the models' JSON
  std::uint64_t compressed_model_bytes = 0;  // as stored
};

// Adds simplejson, and with `with_aws_sdk` boto3 and the rest, found in `dist_packages`
// (Debian's /usr/lib/python3/dist-packages), and the CA bundle Debian's certifi names.
// simplejson is required (thaw::Error naming the package to install); a missing boto3 or one of
// its dependencies is a warning: functions that import it fail at INIT.
PythonLibrariesResult add_python_runtime_libraries(ImageTree& tree, const std::string& dist_packages, bool with_aws_sdk,
                                                   std::vector<std::string>& warnings);

// `data` as one gzip member (RFC 1952), as Python's gzip module reads it.
std::string gzip_compress(std::string_view data, int level = 6);

}  // namespace thaw::image
