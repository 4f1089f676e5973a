// Reference quantizers and dequantizers of the 32-element block types (docs/engine/quantization.md,
// "Block layouts and decoding", "Reference quantizers"). `n` is a multiple of 32; callers
// (quant.cc) check that.
#pragma once

#include <cstdint>

#include "rwkv/engine/quant.h"

namespace rwkv::engine::quant {

void QuantizeRowQ4_0(const float* x, void* y, int64_t n, FmaMode fma);
void QuantizeRowQ4_1(const float* x, void* y, int64_t n, FmaMode fma);
void QuantizeRowQ5_0(const float* x, void* y, int64_t n, FmaMode fma);
void QuantizeRowQ5_1(const float* x, void* y, int64_t n, FmaMode fma);
void QuantizeRowQ8_0(const float* x, void* y, int64_t n);
void QuantizeRowQ8_1(const float* x, void* y, int64_t n);

// The portable implementations behind the five above, which use AVX2 where the CPU has it
// (fused mode); the two give the same bytes.
void QuantizeRowQ4_0Scalar(const float* x, void* y, int64_t n, FmaMode fma);
void QuantizeRowQ4_1Scalar(const float* x, void* y, int64_t n, FmaMode fma);
void QuantizeRowQ5_0Scalar(const float* x, void* y, int64_t n, FmaMode fma);
void QuantizeRowQ5_1Scalar(const float* x, void* y, int64_t n, FmaMode fma);
void QuantizeRowQ8_0Scalar(const float* x, void* y, int64_t n);

void DequantizeRowQ4_0(const void* x, float* y, int64_t n);
void DequantizeRowQ4_1(const void* x, float* y, int64_t n);
void DequantizeRowQ5_0(const void* x, float* y, int64_t n);
void DequantizeRowQ5_1(const void* x, float* y, int64_t n);
void DequantizeRowQ8_0(const void* x, float* y, int64_t n);
void DequantizeRowQ8_1(const void* x, float* y, int64_t n);

// C's float -> integer conversion (truncation toward zero) made total: values outside the
// int range (only reachable from NaN/Inf input) give 0 instead of undefined behaviour.
inline int TruncToInt(float v) {
  return (v > -2147483648.0f && v < 2147483648.0f) ? static_cast<int>(v) : 0;
}

// roundf (half away from zero) converted to int, without the libm call: v − trunc(v) is
// exact for |v| < 2^23, so the comparison with ±0.5 decides exactly as roundf does.
inline int RoundHalfAwayToInt(float v) {
  const int t = TruncToInt(v);
  const float frac = v - static_cast<float>(t);
  return t + (frac >= 0.5f ? 1 : 0) - (frac <= -0.5f ? 1 : 0);
}

}  // namespace rwkv::engine::quant
