// Row conversions between f32 and the 16-bit float storage types (docs/engine/quantization.md,
// "16-bit floats").
#pragma once

#include <cstdint>

namespace rwkv::engine::quant {

void Fp32ToFp16Row(const float* x, void* y, int64_t n);
void Fp32ToBf16Row(const float* x, void* y, int64_t n);
void Fp16ToFp32Row(const void* x, float* y, int64_t n);
void Bf16ToFp32Row(const void* x, float* y, int64_t n);

}  // namespace rwkv::engine::quant
