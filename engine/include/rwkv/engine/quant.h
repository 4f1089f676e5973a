// Row conversion between f32 and the stored tensor types (docs/engine/quantization.md).
//
// DequantizeRow is the scalar oracle every SIMD/GPU kernel is checked against. QuantizeRow
// runs llama.cpp's reference quantizers (quantize_row_*_ref, no importance matrix) and is
// byte-identical to what llama-quantize writes, with these documented choices:
//   * Q4_0, Q5_0, Q4_1, Q5_1: the `x·id + c` level is rounded twice (the product, then the
//     sum), as llama.cpp's reference quantizers compute it: they are built without -march
//     flags, so on x86-64 there is no fused multiply-add. QuantizeRowWith(...,
//     FmaMode::kFused) gives the one-rounding form of an FMA-contracting build.
//   * K-quants follow the reference algorithm in plain IEEE f32 arithmetic, sums in element
//     order.
// Inputs should be finite; NaN/Inf produce unspecified (but memory-safe) blocks.
// All functions are thread-safe and allocation-free.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "rwkv/engine/ggml_types.h"

namespace rwkv::engine {

enum class FmaMode { kFused, kUnfused };

// Types DequantizeRow understands: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1,
// Q4_K, Q5_K, Q6_K, Q8_K.
bool IsSupportedType(GgmlType type);
// Types QuantizeRow can produce: the same set.
bool CanQuantizeTo(GgmlType type);
// True for the block-quantized types (not F32/F16/BF16 or integer types).
bool IsQuantizedType(GgmlType type);

// Decodes `n` elements (a whole number of blocks of `type`) from `src` into `dst`.
// InvalidArgument for an unsupported type, negative n or n not a multiple of the block size.
absl::Status DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n);

// Encodes `n` f32 values into RowBytes(type, n) bytes at `dst`. Same errors as DequantizeRow.
absl::Status QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n);
absl::Status QuantizeRowWith(GgmlType type, const float* src, void* dst, int64_t n, FmaMode fma);

}  // namespace rwkv::engine
