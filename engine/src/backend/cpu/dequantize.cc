// Scalar dequantization for the CPU backend: the quant module's reference decoder, which is
// also the oracle the SIMD kernels are checked against. Used by the scalar kernel table and
// by Embed.
#include <algorithm>

#include "backend/cpu/kernels.h"
#include "rwkv/engine/quant.h"

namespace rwkv::engine::cpu {

bool IsSupportedWeightType(GgmlType type) {
  // Every type the reference decoder reads, except the activation-only formats.
  return engine::IsSupportedType(type) && type != GgmlType::kQ8_1 && type != GgmlType::kQ8_K;
}

void DequantizeRow(GgmlType type, const uint8_t* row, float* out, int64_t k) {
  // Weights were validated at load (IsSupportedWeightType, whole blocks), so this cannot fail;
  // zeros keep a broken invariant visible in the logits instead of reading garbage.
  if (!engine::DequantizeRow(type, row, out, k).ok()) std::fill(out, out + k, 0.0f);
}

}  // namespace rwkv::engine::cpu
