// Official state-tuning .pth -> llama.cpp state file (docs/engine/state-file.md): zero token
// shift, time_state transposed from [h][value][key] to [h][key][value].
#include <chrono>
#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rwkv/engine/checkpoint_converter.h"
#include "rwkv/engine/pth_reader.h"
#include "rwkv/engine/state_file.h"

namespace rwkv::engine {
namespace {

constexpr uint32_t kMaxLayers = 4096;

// "blocks.N.att.time_state" -> N.
bool TimeStateLayer(std::string_view name, uint32_t* layer) {
  constexpr std::string_view kPrefix = "blocks.", kSuffix = ".att.time_state";
  if (name.size() <= kPrefix.size() + kSuffix.size() || name.substr(0, kPrefix.size()) != kPrefix ||
      name.substr(name.size() - kSuffix.size()) != kSuffix) {
    return false;
  }
  const std::string_view digits =
      name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
  if (digits.size() > 4 || (digits.size() > 1 && digits[0] == '0')) return false;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(std::string(digits), layer);
}

absl::Status Bad(const PthCheckpoint& ckpt, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(ckpt.name(), ": ", std::string(what)));
}

}  // namespace

absl::StatusOr<ConvertResult> ConvertStateCheckpoint(const ConvertStateOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.output_path.empty()) return absl::InvalidArgumentError("no output path given");
  auto opened = PthCheckpoint::Open(options.state_path);
  if (!opened.ok()) return opened.status();
  const PthCheckpoint& ckpt = **opened;
  const auto& tensors = ckpt.tensors();
  if (tensors.empty()) return Bad(ckpt, "holds no tensors");
  if (ckpt.Find("emb.weight") != nullptr) {
    return Bad(ckpt, "is a model checkpoint, not a state-tuning file (use convert)");
  }
  std::vector<const PthTensorInfo*> by_layer(std::min<size_t>(tensors.size(), kMaxLayers), nullptr);
  for (const PthTensorInfo& t : tensors) {
    uint32_t layer = 0;
    if (!TimeStateLayer(t.name, &layer)) {
      return Bad(ckpt, absl::StrCat("unexpected tensor ", absl::CHexEscape(t.name),
                                    " (a state file holds only blocks.N.att.time_state)"));
    }
    if (layer >= by_layer.size() || by_layer[layer] != nullptr) {
      return Bad(ckpt, absl::StrCat("time_state layers are not numbered 0..", tensors.size() - 1));
    }
    by_layer[layer] = &t;
  }
  const std::vector<int64_t>& shape = by_layer[0]->shape;
  if (shape.size() != 3 || shape[0] <= 0 || shape[1] <= 0 || shape[1] != shape[2] ||
      shape[0] * shape[1] > (1 << 20)) {
    return Bad(ckpt, "blocks.0.att.time_state is not shaped [heads, head_size, head_size]");
  }
  for (const PthTensorInfo* t : by_layer) {
    if (t->shape != shape) return Bad(ckpt, absl::StrCat(t->name, " has a different shape"));
  }
  const auto H = static_cast<uint32_t>(shape[0]), S = static_cast<uint32_t>(shape[1]);
  const StateShape state_shape{static_cast<uint32_t>(by_layer.size()), H * S, S};
  RecurrentState state = RecurrentState::Zero(state_shape);
  std::vector<float> layer_values(static_cast<size_t>(H) * S * S);
  const uint64_t per_layer = state_shape.wkv_floats_per_layer();
  for (uint32_t l = 0; l < state_shape.n_layer; ++l) {
    if (options.control.cancelled()) return absl::CancelledError("conversion cancelled");
    if (absl::Status s = ckpt.ReadAsFloat32(*by_layer[l], layer_values); !s.ok()) return s;
    float* dst = state.wkv.data() + l * per_layer;
    for (uint32_t h = 0; h < H; ++h) {
      const float* src = layer_values.data() + static_cast<size_t>(h) * S * S;
      for (uint32_t key = 0; key < S; ++key) {
        for (uint32_t value = 0; value < S; ++value) {
          dst[(static_cast<size_t>(h) * S + key) * S + value] = src[value * S + key];
        }
      }
    }
    options.control.Report({l + 1, state_shape.n_layer, 0, 0});
  }
  if (options.control.cancelled()) return absl::CancelledError("conversion cancelled");
  if (absl::Status s = WriteStateFile(options.output_path, InitialStateFile(std::move(state)));
      !s.ok()) {
    return s;
  }
  ConvertResult result;
  std::error_code ec;
  result.output_bytes = std::filesystem::file_size(options.output_path, ec);
  result.tensor_count = state_shape.n_layer;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace rwkv::engine
