// How the CPU backend multiplies block-quantized weights.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"

namespace rwkv::engine {

enum class Precision {
  // Activations quantized to 16 bits per 32-element block (relative error of a dot product
  // near 1e-5), or exact f32 products: the reference behaviour.
  kExact,
  // Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K and Q5_K weights take activations quantized to
  // 8 bits per 32-element block, multiplied with 8-bit integer dot products like llama.cpp's CPU
  // backend:
  // faster prompts and batches, logits within llama.cpp's own distance from the reference.
  // Other weight types, and the GPU backends, run as under kExact.
  kFast,
};

std::string_view PrecisionName(Precision precision);
// "exact" or "fast"; InvalidArgument otherwise.
absl::StatusOr<Precision> ParsePrecision(std::string_view name);

}  // namespace rwkv::engine
