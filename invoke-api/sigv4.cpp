#include "invoke-api/sigv4.h"

#include <time.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <vector>

#include "base/error.h"
#include "base/sha256.h"
#include "invoke-api/api_error.h"
#include "invoke-api/lambda_routes.h"

namespace thaw::api {

namespace {

constexpr auto kMaxSkew = std::chrono::minutes(5);
constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

ApiError denied(const char* exception, const std::string& message) { return ApiError(exception, 403, message); }

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

// RFC 3986's unreserved characters stay, every other byte becomes %XX (`keep_slash`: '/' too).
std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += char(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The path with "." and ".." segments and empty ones resolved, its trailing slash kept, then
// encoded once more: services other than S3 sign the path as sent, encoded again.
std::string canonical_uri(std::string_view path) {
  std::vector<std::string_view> kept;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    auto seg = path.substr(start, end - start);
    if (seg == "..") {
      if (!kept.empty()) kept.pop_back();
    } else if (!seg.empty() && seg != ".") {
      kept.push_back(seg);
    }
    start = end + 1;
  }
  std::string out;
  for (auto seg : kept) out += "/" + std::string(seg);
  if (out.empty() || (path.size() > 1 && path.back() == '/')) out += "/";
  return uri_encode(out, true);
}

std::string canonical_query(std::string_view query) {
  std::vector<std::string> pairs;
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    auto pair = query.substr(start, end - start);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      auto key = percent_decode(pair.substr(0, eq));
      auto value = eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
      pairs.push_back(uri_encode(key, false) + "=" + uri_encode(value, false));
    }
    start = end + 1;
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& p : pairs) out += (out.empty() ? "" : "&") + p;
  return out;
}

// The values of header `name`, each trimmed with its inner runs of spaces made one, joined by ','.
std::string canonical_header_value(const HttpRequest& request, std::string_view name) {
  std::string out;
  bool first = true;
  for (const auto& [k, v] : request.headers) {
    if (!iequals(k, name)) continue;
    std::string value;
    for (char c : trim(v))
      if (!(c == ' ' && !value.empty() && value.back() == ' ')) value += c;
    out += (first ? "" : ",") + value;
    first = false;
  }
  return out;
}

struct Authorization {
  std::string key_id, date, region, service, signed_headers, signature;
};

Authorization parse_authorization(std::string_view header) {
  auto incomplete = [](const std::string& why) { return denied("IncompleteSignatureException", why); };
  if (!header.starts_with(kAlgorithm))
    throw incomplete("Authorization header requires the AWS4-HMAC-SHA256 algorithm (Signature Version 4)");
  std::map<std::string, std::string> parts;
  std::string_view rest = header.substr(kAlgorithm.size());
  size_t start = 0;
  while (start < rest.size()) {
    size_t end = rest.find(',', start);
    if (end == std::string_view::npos) end = rest.size();
    auto item = trim(rest.substr(start, end - start));
    if (auto eq = item.find('='); eq != std::string::npos) parts[item.substr(0, eq)] = item.substr(eq + 1);
    start = end + 1;
  }
  for (const char* k : {"Credential", "SignedHeaders", "Signature"})
    if (!parts.count(k))
      throw incomplete(std::string("Authorization header requires '") + k + "' parameter. Authorization=" +
                       std::string(header));
  Authorization a;
  std::vector<std::string> scope;
  std::string_view cred = parts["Credential"];
  for (size_t s = 0, e; s <= cred.size(); s = e + 1) {
    e = cred.find('/', s);
    if (e == std::string_view::npos) e = cred.size();
    scope.emplace_back(cred.substr(s, e - s));
  }
  if (scope.size() != 5 || scope[4] != "aws4_request")
    throw incomplete("Credential must be KEYID/DATE/REGION/SERVICE/aws4_request, not " + std::string(cred));
  a.key_id = scope[0];
  a.date = scope[1];
  a.region = scope[2];
  a.service = scope[3];
  a.signed_headers = parts["SignedHeaders"];
  a.signature = parts["Signature"];
  return a;
}

// X-Amz-Date's YYYYMMDDTHHMMSSZ.
std::optional<std::chrono::system_clock::time_point> parse_amz_date(std::string_view s) {
  tm t{};
  std::string text(s);
  const char* end = strptime(text.c_str(), "%Y%m%dT%H%M%SZ", &t);
  if (!end || *end || text.size() != 16) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&t));
}

std::string amz_date(std::chrono::system_clock::time_point t) {
  time_t secs = std::chrono::system_clock::to_time_t(t);
  tm u{};
  gmtime_r(&secs, &u);
  char buf[32];
  strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &u);
  return buf;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

std::map<std::string, std::string> read_credentials_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("--credentials " + path + ": cannot be read");
  std::map<std::string, std::map<std::string, std::string>> profiles;
  std::string line, profile;
  while (std::getline(in, line)) {
    auto t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      profile = trim(t.substr(1, t.size() - 2));
      continue;
    }
    if (auto eq = t.find('='); eq != std::string::npos) profiles[profile][trim(t.substr(0, eq))] = trim(t.substr(eq + 1));
  }
  std::map<std::string, std::string> secrets;
  for (auto& [name, keys] : profiles)
    if (keys.count("aws_access_key_id") && keys.count("aws_secret_access_key"))
      secrets[keys["aws_access_key_id"]] = keys["aws_secret_access_key"];
  if (secrets.empty())
    throw Error("--credentials " + path + ": no profile has both aws_access_key_id and aws_secret_access_key");
  return secrets;
}

std::string sigv4_canonical_request(const HttpRequest& request, std::string_view signed_headers,
                                    std::string_view payload_hash) {
  std::string_view target = request.target;
  auto q = target.find('?');
  std::string out = request.method + "\n" + canonical_uri(target.substr(0, q)) + "\n" +
                    canonical_query(q == std::string_view::npos ? "" : target.substr(q + 1)) + "\n";
  size_t start = 0;
  while (start <= signed_headers.size()) {
    size_t end = signed_headers.find(';', start);
    if (end == std::string_view::npos) end = signed_headers.size();
    auto name = signed_headers.substr(start, end - start);
    out += std::string(name) + ":" + canonical_header_value(request, name) + "\n";
    start = end + 1;
  }
  return out + "\n" + std::string(signed_headers) + "\n" + std::string(payload_hash);
}

std::string sigv4_signature(std::string_view secret, std::string_view date, std::string_view region,
                            std::string_view service, std::string_view string_to_sign) {
  auto as_view = [](const std::array<uint8_t, 32>& a) {
    return std::string(reinterpret_cast<const char*>(a.data()), a.size());
  };
  auto k = as_view(hmac_sha256("AWS4" + std::string(secret), date));
  k = as_view(hmac_sha256(k, region));
  k = as_view(hmac_sha256(k, service));
  k = as_view(hmac_sha256(k, "aws4_request"));
  return to_hex(hmac_sha256(k, string_to_sign));
}

SigV4Verifier::SigV4Verifier(std::map<std::string, std::string> secrets, std::string region, std::string service)
    : secrets_(std::move(secrets)), region_(std::move(region)), service_(std::move(service)) {}

void SigV4Verifier::verify(const HttpRequest& request, std::chrono::system_clock::time_point now) const {
  auto header = request.header("Authorization");
  if (!header) throw denied("MissingAuthenticationTokenException", "Missing Authentication Token");
  auto a = parse_authorization(*header);
  auto secret = secrets_.find(a.key_id);
  if (secret == secrets_.end())
    throw denied("UnrecognizedClientException", "The security token included in the request is invalid.");
  auto date_header = request.header("X-Amz-Date");
  auto when = date_header ? parse_amz_date(*date_header) : std::nullopt;
  if (!when) throw denied("IncompleteSignatureException", "the request has no valid X-Amz-Date (YYYYMMDDTHHMMSSZ)");
  if (*when < now - kMaxSkew)
    throw denied("InvalidSignatureException", "Signature expired: " + std::string(*date_header) +
                                                  " is now earlier than " + amz_date(now - kMaxSkew) + " (" +
                                                  amz_date(now) + " - 5 min.)");
  if (*when > now + kMaxSkew)
    throw denied("InvalidSignatureException", "Signature not yet current: " + std::string(*date_header) +
                                                  " is still later than " + amz_date(now + kMaxSkew) + " (" +
                                                  amz_date(now) + " + 5 min.)");
  if (a.date != date_header->substr(0, 8))
    throw denied("InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from X-Amz-Date.");
  if (a.region != region_)
    throw denied("InvalidSignatureException", "Credential should be scoped to a valid region, not '" + a.region +
                                                  "' (this server is " + region_ + ").");
  if (a.service != service_)
    throw denied("InvalidSignatureException", "Credential should be scoped to correct service: '" + service_ + "'.");
  if ((";" + a.signed_headers + ";").find(";host;") == std::string::npos)
    throw denied("InvalidSignatureException", "the Host header must be signed");

  std::string payload_hash = sha256_hex(request.body);
  if (auto declared = request.header("X-Amz-Content-Sha256")) {
    if (*declared == "UNSIGNED-PAYLOAD")
      payload_hash = "UNSIGNED-PAYLOAD";
    else if (*declared != payload_hash)
      throw denied("InvalidSignatureException", "the body's SHA-256 is not the X-Amz-Content-Sha256 sent");
  }
  std::string scope = a.date + "/" + a.region + "/" + a.service + "/aws4_request";
  std::string to_sign = std::string(kAlgorithm) + "\n" + std::string(*date_header) + "\n" + scope + "\n" +
                        sha256_hex(sigv4_canonical_request(request, a.signed_headers, payload_hash));
  if (!constant_time_equal(sigv4_signature(secret->second, a.date, a.region, a.service, to_sign), a.signature))
    throw denied("InvalidSignatureException",
                 "The request signature we calculated does not match the signature you provided. Check your AWS "
                 "Secret Access Key and signing method. Consult the service documentation for details.");
}

}  // namespace thaw::api
