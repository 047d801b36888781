#pragma once
// SHA-256 (FIPS 180-4), incremental, and HMAC-SHA256 (RFC 2104). Names the kernel and the
// initramfs in an image's config (so a snapshot can tell whether it was made from exactly these
// bytes), and function code as Lambda's CodeSha256; HMAC signs AWS Signature Version 4.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace thaw {

class Sha256 {
 public:
  Sha256();
  void update(std::span<const std::byte> data);
  void update(std::string_view data) { update(std::as_bytes(std::span(data.data(), data.size()))); }
  // Finishes the hash; the object must not be updated afterwards.
  std::array<std::uint8_t, 32> digest();
  std::string hex_digest();

 private:
  void block(const std::uint8_t* p);
  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> buf_{};
  std::size_t buf_len_ = 0;
  std::uint64_t total_ = 0;
};

// Hex SHA-256 of a whole file; throws SystemError if it cannot be read.
std::string sha256_file(const std::string& path);

std::string sha256_hex(std::string_view data);
std::array<std::uint8_t, 32> hmac_sha256(std::string_view key, std::string_view message);
std::string to_hex(std::span<const std::uint8_t> bytes);

}  // namespace thaw
