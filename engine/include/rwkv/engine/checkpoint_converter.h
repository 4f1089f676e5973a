// Official RWKV-6 PyTorch files -> llama.cpp-compatible artifacts:
//   * a model checkpoint (.pth) -> GGUF (docs/engine/checkpoint-conversion.md; tokenizer from
//     the vocab file: docs/engine/tokenizer.md, "Tokens in GGUF");
//   * a state-tuning file (.pth) -> llama.cpp state file (docs/engine/state-file.md).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rwkv/engine/progress.h"

namespace rwkv::engine {

struct ConvertOptions {
  std::string checkpoint_path;  // torch.save zip (or legacy) file with an RWKV-6 state dict
  std::string vocab_path;       // rwkv_vocab_v20230424.txt (LF or CRLF)
  std::string output_path;      // written atomically
  std::string outtype = "f16";  // f32 | f16 | bf16
  JobControl control;
};

struct ConvertResult {
  uint64_t output_bytes = 0;
  uint64_t tensor_count = 0;
  double seconds = 0;
};

// InvalidArgument names the file and the problem (not RWKV-6, truncated, bad shape, ...).
absl::StatusOr<ConvertResult> ConvertCheckpoint(const ConvertOptions& options);

struct ConvertStateOptions {
  std::string state_path;   // .pth with blocks.N.att.time_state tensors [H, S, S]
  std::string output_path;  // written atomically, tutorial converter layout
  JobControl control;
};

absl::StatusOr<ConvertResult> ConvertStateCheckpoint(const ConvertStateOptions& options);

}  // namespace rwkv::engine
