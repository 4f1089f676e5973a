// ggml tensor type ids and their block geometry, as stored in GGUF tensor infos
// (docs/engine/gguf.md, "ggml tensor types"). Pure data: no quantization code lives here.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace rwkv::engine {

// Values are the on-disk ids; never renumber.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
};

inline constexpr uint32_t kGgmlTypeCount = 39;

struct GgmlTypeInfo {
  GgmlType type;
  std::string_view name;  // ggml spelling: "f32", "q8_0", "q6_K", ...
  int64_t block_size;     // elements per block
  uint64_t block_bytes;   // bytes per block
};

// Geometry of a known type id, or nullopt for ids that are out of range or retired
// (4, 5, 31-33, 36-38).
std::optional<GgmlTypeInfo> GetGgmlTypeInfo(uint32_t type_id);
GgmlTypeInfo GetGgmlTypeInfo(GgmlType type);

// Case-insensitive lookup by ggml name ("q8_0", "Q6_K", "bf16").
std::optional<GgmlType> GgmlTypeFromName(std::string_view name);
std::string_view GgmlTypeName(GgmlType type);

// Bytes of one row of `n` elements. Requires n % block_size == 0.
uint64_t RowBytes(GgmlType type, int64_t n);

// Bytes of a tensor with dims `ne` (ggml order, fastest first). InvalidArgument when
// ne[0] is not a multiple of the block size, a dim is negative, or the size overflows.
absl::StatusOr<uint64_t> TensorBytes(GgmlType type, std::span<const int64_t> ne);

}  // namespace rwkv::engine
