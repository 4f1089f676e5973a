#include "quant/tensor_selection.h"

#include <array>

#include "absl/strings/ascii.h"
#include "rwkv/engine/quant.h"

namespace rwkv::engine::quant {
namespace {

// RWKV-6 tensors that stay in their input type: the decay and token-shift LoRAs and the
// bonus, which are tiny and (for the decay) applied recursively (docs/engine/quantization.md,
// "Step 1").
constexpr std::array<std::string_view, 6> kKeptRwkvTensors = {
    "time_mix_first.weight",    "time_mix_w1.weight",       "time_mix_w2.weight",
    "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
};

bool IsKQuant(GgmlType t) {
  return t == GgmlType::kQ2_K || t == GgmlType::kQ3_K || t == GgmlType::kQ4_K ||
         t == GgmlType::kQ5_K || t == GgmlType::kQ6_K;
}

constexpr int64_t kQkK = 256;

}  // namespace

bool IsQuantizableTensor(std::string_view name, uint32_t n_dims) {
  if (!name.ends_with("weight")) return false;
  if (n_dims < 2) return false;
  if (name.find("_norm.weight") != std::string_view::npos) return false;
  for (std::string_view kept : kKeptRwkvTensors) {
    if (name.find(kept) != std::string_view::npos) return false;
  }
  return true;
}

GgmlType ChooseTensorType(std::string_view name, int64_t ne0, GgmlType default_type) {
  GgmlType type = default_type;
  if (!IsQuantizedType(default_type)) return type;
  if (name == "output.weight") {
    if (ne0 % kQkK != 0) {
      type = GgmlType::kQ8_0;
    } else if (type != GgmlType::kQ8_0) {
      type = GgmlType::kQ6_K;
    }
  }
  if (IsKQuant(type) && ne0 % kQkK != 0) {
    switch (type) {
      case GgmlType::kQ4_K:
        type = GgmlType::kQ5_0;
        break;
      case GgmlType::kQ5_K:
        type = GgmlType::kQ5_1;
        break;
      case GgmlType::kQ6_K:
        type = GgmlType::kQ8_0;
        break;
      default:
        type = GgmlType::kIQ4_NL;
        break;  // Q2_K/Q3_K; not offered as targets
    }
  }
  if (ne0 % GetGgmlTypeInfo(type).block_size != 0) type = GgmlType::kF16;
  return type;
}

int LayerOfTensor(std::string_view name) {
  constexpr std::string_view kPrefix = "blk.";
  if (!name.starts_with(kPrefix)) return -1;
  std::string_view rest = name.substr(kPrefix.size());
  bool negative = false;
  if (!rest.empty() && (rest[0] == '-' || rest[0] == '+')) {
    negative = rest[0] == '-';
    rest.remove_prefix(1);
  }
  if (rest.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(rest[0]))) return -1;
  int64_t value = 0;
  for (char c : rest) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) break;
    value = value * 10 + (c - '0');
    if (value > 1000000000) break;  // absurd layer numbers only need a stable order
  }
  return static_cast<int>(negative ? -value : value);
}

bool TensorOutputLess(std::string_view a, std::string_view b) {
  const int la = LayerOfTensor(a);
  const int lb = LayerOfTensor(b);
  if (la != lb) return la < lb;
  return a < b;
}

}  // namespace rwkv::engine::quant
