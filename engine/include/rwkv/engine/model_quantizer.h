// Whole-file quantization with llama-quantize's rules for rwkv6 (docs/engine/quantization.md,
// "llama-quantize's rules"): tensor selection, Q6_K-for-output rule and fallbacks, tensor
// order, KV order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rwkv/engine/ggml_types.h"
#include "rwkv/engine/progress.h"

namespace rwkv::engine {

// A llama-quantize target ("Q8_0", "Q4_K_M", "F16", ... or its numeric ftype id).
struct QuantizeTarget {
  std::string name;       // canonical spelling, e.g. "Q4_K_M"
  uint32_t file_type;     // LLAMA_FTYPE id written to general.file_type
  GgmlType default_type;  // type for ordinary weights
};

// Case-insensitive; InvalidArgument listing the accepted names for anything else.
absl::StatusOr<QuantizeTarget> ParseQuantizeTarget(std::string_view name);

struct QuantizeOptions {
  std::string input_path;   // GGUF whose weights are F32, F16 or BF16
  std::string output_path;  // written atomically (temporary file, fsync, rename)
  std::string target;       // as accepted by ParseQuantizeTarget
  int threads = 0;          // 0 = hardware concurrency
  JobControl control;
};

struct QuantizeResult {
  uint64_t input_bytes = 0;
  uint64_t output_bytes = 0;
  uint64_t tensor_count = 0;
  double seconds = 0;
};

class GgufFile;

// What QuantizeGgufFile does with one tensor, in output order.
struct TensorQuantPlan {
  std::string name;
  GgmlType input_type = GgmlType::kF32;
  GgmlType output_type = GgmlType::kF32;  // == input_type: bytes are copied verbatim
  std::vector<int64_t> ne;                // ggml_n_dims entries, fastest first
  uint64_t input_bytes = 0;
  uint64_t output_bytes = 0;
};

// The per-tensor decisions of llama-quantize for `target` (docs/engine/quantization.md,
// "llama-quantize's rules"), sorted in output order. InvalidArgument, naming the file and
// tensor, when a tensor is not F32, F16 or BF16.
absl::StatusOr<std::vector<TensorQuantPlan>> PlanQuantization(const GgufFile& file,
                                                              const QuantizeTarget& target);

// InvalidArgument for bad input (quantized input, unknown target, malformed GGUF),
// Cancelled when control.cancel was raised. Nothing is left at output_path on failure.
absl::StatusOr<QuantizeResult> QuantizeGgufFile(const QuantizeOptions& options);

}  // namespace rwkv::engine
