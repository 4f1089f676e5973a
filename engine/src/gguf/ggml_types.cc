#include "rwkv/engine/ggml_types.h"

#include <array>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace rwkv::engine {
namespace {

constexpr std::array<GgmlTypeInfo, 31> kTypes = {{
    {GgmlType::kF32, "f32", 1, 4},
    {GgmlType::kF16, "f16", 1, 2},
    {GgmlType::kQ4_0, "q4_0", 32, 18},
    {GgmlType::kQ4_1, "q4_1", 32, 20},
    {GgmlType::kQ5_0, "q5_0", 32, 22},
    {GgmlType::kQ5_1, "q5_1", 32, 24},
    {GgmlType::kQ8_0, "q8_0", 32, 34},
    {GgmlType::kQ8_1, "q8_1", 32, 36},
    {GgmlType::kQ2_K, "q2_K", 256, 84},
    {GgmlType::kQ3_K, "q3_K", 256, 110},
    {GgmlType::kQ4_K, "q4_K", 256, 144},
    {GgmlType::kQ5_K, "q5_K", 256, 176},
    {GgmlType::kQ6_K, "q6_K", 256, 210},
    {GgmlType::kQ8_K, "q8_K", 256, 292},
    {GgmlType::kIQ2_XXS, "iq2_xxs", 256, 66},
    {GgmlType::kIQ2_XS, "iq2_xs", 256, 74},
    {GgmlType::kIQ3_XXS, "iq3_xxs", 256, 98},
    {GgmlType::kIQ1_S, "iq1_s", 256, 50},
    {GgmlType::kIQ4_NL, "iq4_nl", 32, 18},
    {GgmlType::kIQ3_S, "iq3_s", 256, 110},
    {GgmlType::kIQ2_S, "iq2_s", 256, 82},
    {GgmlType::kIQ4_XS, "iq4_xs", 256, 136},
    {GgmlType::kI8, "i8", 1, 1},
    {GgmlType::kI16, "i16", 1, 2},
    {GgmlType::kI32, "i32", 1, 4},
    {GgmlType::kI64, "i64", 1, 8},
    {GgmlType::kF64, "f64", 1, 8},
    {GgmlType::kIQ1_M, "iq1_m", 256, 56},
    {GgmlType::kBF16, "bf16", 1, 2},
    {GgmlType::kTQ1_0, "tq1_0", 256, 54},
    {GgmlType::kTQ2_0, "tq2_0", 256, 66},
}};

}  // namespace

std::optional<GgmlTypeInfo> GetGgmlTypeInfo(uint32_t type_id) {
  for (const auto& t : kTypes) {
    if (static_cast<uint32_t>(t.type) == type_id) return t;
  }
  return std::nullopt;
}

GgmlTypeInfo GetGgmlTypeInfo(GgmlType type) {
  return *GetGgmlTypeInfo(static_cast<uint32_t>(type));
}

std::optional<GgmlType> GgmlTypeFromName(std::string_view name) {
  const std::string lower = absl::AsciiStrToLower(std::string(name));
  for (const auto& t : kTypes) {
    if (absl::AsciiStrToLower(std::string(t.name)) == lower) return t.type;
  }
  return std::nullopt;
}

std::string_view GgmlTypeName(GgmlType type) { return GetGgmlTypeInfo(type).name; }

uint64_t RowBytes(GgmlType type, int64_t n) {
  const GgmlTypeInfo info = GetGgmlTypeInfo(type);
  return static_cast<uint64_t>(n / info.block_size) * info.block_bytes;
}

absl::StatusOr<uint64_t> TensorBytes(GgmlType type, std::span<const int64_t> ne) {
  const GgmlTypeInfo info = GetGgmlTypeInfo(type);
  if (ne.empty()) return absl::InvalidArgumentError("tensor has no dimensions");
  for (int64_t d : ne) {
    if (d < 0) return absl::InvalidArgumentError(absl::StrCat("negative dimension ", d));
  }
  if (ne[0] % info.block_size != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("row length ", ne[0], " is not a multiple of the block size ", info.block_size,
                     " of type ", std::string(info.name)));
  }
  unsigned __int128 bytes =
      static_cast<unsigned __int128>(ne[0] / info.block_size) * info.block_bytes;
  unsigned __int128 elements = static_cast<uint64_t>(ne[0]);
  for (size_t i = 1; i < ne.size(); ++i) {
    bytes *= static_cast<uint64_t>(ne[i]);
    elements *= static_cast<uint64_t>(ne[i]);
    if (bytes > static_cast<unsigned __int128>(INT64_MAX) ||
        elements > static_cast<unsigned __int128>(INT64_MAX)) {
      return absl::InvalidArgumentError("tensor size overflows 64 bits");
    }
  }
  return static_cast<uint64_t>(bytes);
}

}  // namespace rwkv::engine
