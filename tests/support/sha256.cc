#include "support/sha256.h"

#include <openssl/evp.h>

#include <cstdio>
#include <memory>
#include <vector>

namespace rwkv::testing {
namespace {

struct DigestContextDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using DigestContext = std::unique_ptr<EVP_MD_CTX, DigestContextDeleter>;

std::string Hex(const unsigned char* digest, unsigned int size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += kDigits[digest[i] >> 4];
    out += kDigits[digest[i] & 15];
  }
  return out;
}

// Feeds chunks from `next` (which returns false at the end) and returns the hex digest, or ""
// when OpenSSL fails.
template <class Next>
std::string Digest(Next next) {
  DigestContext ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return "";
  std::span<const uint8_t> chunk;
  bool ok = true;
  while (ok && next(&chunk, &ok)) {
    if (EVP_DigestUpdate(ctx.get(), chunk.data(), chunk.size()) != 1) return "";
  }
  if (!ok) return "";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &size) != 1) return "";
  return Hex(digest, size);
}

}  // namespace

std::string Sha256Hex(std::span<const uint8_t> bytes) {
  bool given = false;
  return Digest([&](std::span<const uint8_t>* chunk, bool*) {
    if (given) return false;
    given = true;
    *chunk = bytes;
    return true;
  });
}

std::string Sha256FileHex(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return "";
  std::vector<uint8_t> buffer(1 << 20);
  return Digest([&](std::span<const uint8_t>* chunk, bool* ok) {
    const size_t n = std::fread(buffer.data(), 1, buffer.size(), f.get());
    if (n == 0) {
      *ok = std::ferror(f.get()) == 0;
      return false;
    }
    *chunk = std::span<const uint8_t>(buffer.data(), n);
    return true;
  });
}

}  // namespace rwkv::testing
