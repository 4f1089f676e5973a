// SHA-256 (FIPS 180-4) for comparing bytes with the sha256 values in the reference manifests.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace rwkv::testing {

class Sha256 {
 public:
  Sha256();
  void Update(std::span<const uint8_t> bytes);
  void Update(const void* data, size_t size) {
    Update(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size));
  }
  // Finishes the hash; the object must not be updated afterwards.
  std::array<uint8_t, 32> Finish();
  // Lowercase hex of Finish().
  std::string FinishHex();

 private:
  void Block(const uint8_t* p);

  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// Lowercase hex digest of `bytes`.
std::string Sha256Hex(std::span<const uint8_t> bytes);
// Lowercase hex digest of a whole file, read in chunks; empty string if it cannot be read.
std::string Sha256FileHex(const std::string& path);

}  // namespace rwkv::testing
