// ParseQuantizeTarget: llama-quantize's target names and ftype ids (docs/engine/quantization.md,
// "Target names") restricted to the types this engine can write.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rwkv/engine/model_quantizer.h"

namespace rwkv::engine {
namespace {

struct TargetEntry {
  std::string_view name;       // spelling accepted on the command line
  std::string_view canonical;  // QuantizeTarget::name
  uint32_t file_type;
  GgmlType default_type;
};

constexpr std::array<TargetEntry, 15> kTargets = {{
    {"Q4_0", "Q4_0", 2, GgmlType::kQ4_0},
    {"Q4_1", "Q4_1", 3, GgmlType::kQ4_1},
    {"Q5_0", "Q5_0", 8, GgmlType::kQ5_0},
    {"Q5_1", "Q5_1", 9, GgmlType::kQ5_1},
    {"Q8_0", "Q8_0", 7, GgmlType::kQ8_0},
    {"Q4_K", "Q4_K_M", 15, GgmlType::kQ4_K},
    {"Q4_K_S", "Q4_K_S", 14, GgmlType::kQ4_K},
    {"Q4_K_M", "Q4_K_M", 15, GgmlType::kQ4_K},
    {"Q5_K", "Q5_K_M", 17, GgmlType::kQ5_K},
    {"Q5_K_S", "Q5_K_S", 16, GgmlType::kQ5_K},
    {"Q5_K_M", "Q5_K_M", 17, GgmlType::kQ5_K},
    {"Q6_K", "Q6_K", 18, GgmlType::kQ6_K},
    {"F16", "F16", 1, GgmlType::kF16},
    {"BF16", "BF16", 32, GgmlType::kBF16},
    {"F32", "F32", 0, GgmlType::kF32},
}};

// llama-quantize targets this engine recognises but cannot produce (no imatrix-free
// reference quantizers for them here).
constexpr std::array<std::string_view, 20> kUnsupportedTargets = {
    "Q2_K",    "Q2_K_S", "Q3_K",  "Q3_K_S", "Q3_K_M", "Q3_K_L", "IQ2_XXS",
    "IQ2_XS",  "IQ2_S",  "IQ2_M", "IQ1_S",  "IQ1_M",  "TQ1_0",  "TQ2_0",
    "IQ3_XXS", "IQ3_S",  "IQ3_M", "IQ3_XS", "IQ4_NL", "IQ4_XS",
};

std::string ValidNames() {
  std::string out;
  for (const auto& t : kTargets) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", std::string(t.name), " (", t.file_type, ")");
  }
  return out;
}

}  // namespace

absl::StatusOr<QuantizeTarget> ParseQuantizeTarget(std::string_view name) {
  const std::string upper = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(std::string(name)));
  uint32_t id = 0;
  const bool numeric = !upper.empty() &&
                       absl::ascii_isdigit(static_cast<unsigned char>(upper[0])) &&
                       absl::SimpleAtoi(upper, &id);
  for (const auto& t : kTargets) {
    if ((numeric && t.file_type == id && t.name == t.canonical) || (!numeric && t.name == upper)) {
      return QuantizeTarget{std::string(t.canonical), t.file_type, t.default_type};
    }
  }
  for (std::string_view unsupported : kUnsupportedTargets) {
    if (upper == unsupported) {
      return absl::InvalidArgumentError(
          absl::StrCat("quantization type ", std::string(name),
                       " is not supported; valid types: ", ValidNames()));
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown quantization type '", std::string(name),
                                                 "'; valid types: ", ValidNames()));
}

}  // namespace rwkv::engine
