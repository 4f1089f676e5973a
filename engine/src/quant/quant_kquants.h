// Reference quantizers and dequantizers of the 256-element K-quant types
// (docs/engine/quantization.md, "256-element super-blocks (K-quants)", "Q4_K and Q5_K",
// "Q6_K"). `n` is a multiple of 256; callers (quant.cc) check that.
#pragma once

#include <cstdint>

namespace rwkv::engine::quant {

void QuantizeRowQ4_K(const float* x, void* y, int64_t n);
void QuantizeRowQ5_K(const float* x, void* y, int64_t n);
void QuantizeRowQ6_K(const float* x, void* y, int64_t n);
void QuantizeRowQ8_K(const float* x, void* y, int64_t n);

void DequantizeRowQ4_K(const void* x, float* y, int64_t n);
void DequantizeRowQ5_K(const void* x, float* y, int64_t n);
void DequantizeRowQ6_K(const void* x, float* y, int64_t n);
void DequantizeRowQ8_K(const void* x, float* y, int64_t n);

}  // namespace rwkv::engine::quant
