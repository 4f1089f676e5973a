#include "quant/quant_float.h"

#include <cstring>

#include "rwkv/engine/fp16.h"

namespace rwkv::engine::quant {

// The byte buffers need not be 2-byte aligned, so elements go through memcpy.

namespace {
// All 65536 half values widened once; the bit-twiddling conversion is the slow part of
// quantizing F16 models.
const float* HalfTable() {
  static const float* table = [] {
    auto* t = new float[65536];
    for (uint32_t h = 0; h < 65536; ++h) t[h] = Fp16ToFp32(static_cast<uint16_t>(h));
    return t;
  }();
  return table;
}
}  // namespace

void Fp32ToFp16Row(const float* x, void* y, int64_t n) {
  auto* out = static_cast<uint8_t*>(y);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = Fp32ToFp16(x[i]);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

void Fp32ToBf16Row(const float* x, void* y, int64_t n) {
  auto* out = static_cast<uint8_t*>(y);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = Fp32ToBf16(x[i]);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

void Fp16ToFp32Row(const void* x, float* y, int64_t n) {
  const auto* in = static_cast<const uint8_t*>(x);
  const float* table = HalfTable();
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, in + 2 * i, 2);
    y[i] = table[h];
  }
}

void Bf16ToFp32Row(const void* x, float* y, int64_t n) {
  const auto* in = static_cast<const uint8_t*>(x);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, in + 2 * i, 2);
    y[i] = Bf16ToFp32(h);
  }
}

}  // namespace rwkv::engine::quant
