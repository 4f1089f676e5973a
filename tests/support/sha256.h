// SHA-256 digests (OpenSSL) for comparing bytes with the sha256 values in the reference
// manifests.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace rwkv::testing {

// Lowercase hex digest of `bytes`.
std::string Sha256Hex(std::span<const uint8_t> bytes);
// Lowercase hex digest of a whole file, read in chunks; empty string if it cannot be read.
std::string Sha256FileHex(const std::string& path);

}  // namespace rwkv::testing
