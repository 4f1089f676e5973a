// llama-quantize's per-tensor decisions for rwkv6 files (docs/engine/quantization.md,
// "llama-quantize's rules"): whether a tensor is quantized at all, which type it gets
// (output.weight rule, K-quant fallbacks) and the order tensors are written in.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "rwkv/engine/ggml_types.h"

namespace rwkv::engine::quant {

// Step 1: true when llama-quantize would convert this tensor (a >= 2-D "...weight" that is
// not a norm and not one of the RWKV-6 tensors kept in full precision). `n_dims` is
// ggml_n_dims of the tensor.
bool IsQuantizableTensor(std::string_view name, uint32_t n_dims);

// Steps 2 and 3 for a quantizable tensor with row length `ne0`: the target's default type,
// the output.weight rule, then the K-quant fallbacks and the final F16 fallback.
GgmlType ChooseTensorType(std::string_view name, int64_t ne0, GgmlType default_type);

// Layer number of a "blk.N." name, -1 for anything else (llama.cpp's sscanf("blk.%d.")).
int LayerOfTensor(std::string_view name);

// llama-quantize's output order: by layer (non-block tensors first), then byte-wise name.
bool TensorOutputLess(std::string_view a, std::string_view b);

}  // namespace rwkv::engine::quant
