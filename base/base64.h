#pragma once
// Base64 (RFC 4648, the standard alphabet with padding), as the Lambda API carries blobs:
// ZipFile, X-Amz-Client-Context, X-Amz-Log-Result, CodeSha256.
#include <optional>
#include <string>
#include <string_view>

namespace thaw {

std::string base64_encode(std::string_view bytes);
// Nothing when `text` is not canonical base64 (a character outside the alphabet, a length
// that is not a multiple of 4, padding anywhere but the end).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace thaw
