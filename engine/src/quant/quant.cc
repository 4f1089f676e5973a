#include "rwkv/engine/quant.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "quant/quant_float.h"
#include "quant/quant_kquants.h"
#include "quant/quant_legacy.h"

namespace rwkv::engine {
namespace {

absl::Status CheckRow(GgmlType type, int64_t n, const char* what) {
  if (!IsSupportedType(type)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot ", what, " type ", static_cast<uint32_t>(type), " (",
        GetGgmlTypeInfo(static_cast<uint32_t>(type)).has_value() ? std::string(GgmlTypeName(type))
                                                                 : std::string("unknown"),
        "): not supported"));
  }
  const int64_t block = GetGgmlTypeInfo(type).block_size;
  if (n < 0 || n % block != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot ", what, " a row of ", n, " ", std::string(GgmlTypeName(type)),
                     " values: not a multiple of the block size ", block));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsSupportedType(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ8_0:
    case GgmlType::kQ8_1:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
    case GgmlType::kQ8_K:
      return true;
    default:
      return false;
  }
}

bool CanQuantizeTo(GgmlType type) { return IsSupportedType(type); }

bool IsQuantizedType(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kF64:
    case GgmlType::kI8:
    case GgmlType::kI16:
    case GgmlType::kI32:
    case GgmlType::kI64:
      return false;
    default:
      return true;
  }
}

absl::Status DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n) {
  if (absl::Status s = CheckRow(type, n, "dequantize"); !s.ok()) return s;
  using namespace quant;  // NOLINT(build/namespaces): local dispatch table
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      break;
    case GgmlType::kF16:
      Fp16ToFp32Row(src, dst, n);
      break;
    case GgmlType::kBF16:
      Bf16ToFp32Row(src, dst, n);
      break;
    case GgmlType::kQ4_0:
      DequantizeRowQ4_0(src, dst, n);
      break;
    case GgmlType::kQ4_1:
      DequantizeRowQ4_1(src, dst, n);
      break;
    case GgmlType::kQ5_0:
      DequantizeRowQ5_0(src, dst, n);
      break;
    case GgmlType::kQ5_1:
      DequantizeRowQ5_1(src, dst, n);
      break;
    case GgmlType::kQ8_0:
      DequantizeRowQ8_0(src, dst, n);
      break;
    case GgmlType::kQ8_1:
      DequantizeRowQ8_1(src, dst, n);
      break;
    case GgmlType::kQ4_K:
      DequantizeRowQ4_K(src, dst, n);
      break;
    case GgmlType::kQ5_K:
      DequantizeRowQ5_K(src, dst, n);
      break;
    case GgmlType::kQ6_K:
      DequantizeRowQ6_K(src, dst, n);
      break;
    case GgmlType::kQ8_K:
      DequantizeRowQ8_K(src, dst, n);
      break;
    default:
      break;  // rejected by CheckRow
  }
  return absl::OkStatus();
}

absl::Status QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n) {
  return QuantizeRowWith(type, src, dst, n, FmaMode::kUnfused);
}

absl::Status QuantizeRowWith(GgmlType type, const float* src, void* dst, int64_t n, FmaMode fma) {
  if (absl::Status s = CheckRow(type, n, "quantize to"); !s.ok()) return s;
  using namespace quant;  // NOLINT(build/namespaces): local dispatch table
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      break;
    case GgmlType::kF16:
      Fp32ToFp16Row(src, dst, n);
      break;
    case GgmlType::kBF16:
      Fp32ToBf16Row(src, dst, n);
      break;
    case GgmlType::kQ4_0:
      QuantizeRowQ4_0(src, dst, n, fma);
      break;
    case GgmlType::kQ4_1:
      QuantizeRowQ4_1(src, dst, n, fma);
      break;
    case GgmlType::kQ5_0:
      QuantizeRowQ5_0(src, dst, n, fma);
      break;
    case GgmlType::kQ5_1:
      QuantizeRowQ5_1(src, dst, n, fma);
      break;
    case GgmlType::kQ8_0:
      QuantizeRowQ8_0(src, dst, n);
      break;
    case GgmlType::kQ8_1:
      QuantizeRowQ8_1(src, dst, n);
      break;
    case GgmlType::kQ4_K:
      QuantizeRowQ4_K(src, dst, n);
      break;
    case GgmlType::kQ5_K:
      QuantizeRowQ5_K(src, dst, n);
      break;
    case GgmlType::kQ6_K:
      QuantizeRowQ6_K(src, dst, n);
      break;
    case GgmlType::kQ8_K:
      QuantizeRowQ8_K(src, dst, n);
      break;
    default:
      break;  // rejected by CheckRow
  }
  return absl::OkStatus();
}

}  // namespace rwkv::engine
