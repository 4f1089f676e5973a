// Conversion knobs beyond the public ConvertOptions, and the metadata helpers they use.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "convert/rwkv6_plan.h"
#include "rwkv/engine/checkpoint_converter.h"
#include "rwkv/engine/ggml_types.h"
#include "rwkv/engine/gguf.h"

namespace rwkv::engine::convert {

// The vocab_path value that selects a 256-entry byte vocabulary (token i = byte i).
inline constexpr std::string_view kByteVocab = "bytes";

struct CheckpointConvertConfig {
  // llama.cpp's HF converter writes 6 and divides the weights to match; 0 keeps them as-is.
  uint32_t rescale_every_n_layers = 6;
  // general.name; empty derives it from the checkpoint file name.
  std::string model_name;
};

absl::StatusOr<ConvertResult> ConvertCheckpointWithConfig(const ConvertOptions& options,
                                                          const CheckpointConvertConfig& config);

// "tiny-rwkv6-bf16" -> "Tiny Rwkv6 Bf16" (Python's str.title() after '-'/'_' -> ' ').
std::string ModelNameFromPath(std::string_view path);
// gguf-py's size label: "18M" for 17,594,880 parameters, "365K" for 364,800.
std::string SizeLabel(uint64_t n_params);

struct OutType {
  GgmlType type;       // the type of projection weights
  uint32_t file_type;  // general.file_type
};
absl::StatusOr<OutType> ParseOutType(std::string_view outtype);

// Adds every KV llama.cpp's converter writes, in its order (docs/engine/gguf.md, "Metadata keys").
absl::Status AddRwkv6Metadata(GgufWriter& writer, const Rwkv6Hparams& h, const OutType& out,
                              const std::string& vocab_path, const std::string& model_name,
                              uint64_t n_params, uint32_t rescale_every);

}  // namespace rwkv::engine::convert
