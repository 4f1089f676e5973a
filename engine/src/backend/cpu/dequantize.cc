// Scalar dequantization for the CPU backend: the quant module's reference decoder, which is
// also the oracle the SIMD kernels are checked against. Used by the scalar kernel table and
// by Embed.
#include <algorithm>

#include "backend/cpu/kernels.h"
#include "rwkv/engine/quant.h"

namespace rwkv::engine::cpu {

bool IsSupportedWeightType(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return true;
    default:
      return false;
  }
}

void DequantizeRow(GgmlType type, const uint8_t* row, float* out, int64_t k) {
  // Weights were validated at load (IsSupportedWeightType, whole blocks), so this cannot fail;
  // zeros keep a broken invariant visible in the logits instead of reading garbage.
  if (!engine::DequantizeRow(type, row, out, k).ok()) std::fill(out, out + k, 0.0f);
}

}  // namespace rwkv::engine::cpu
