// Validation of a JobSpec against the storage layout (docs/architecture.md):
//   convert_checkpoint: checkpoints/**.pth + vocab **.txt -> models/**.gguf, outtype f32|f16|bf16
//   quantize:           models/**.gguf -> models/**.gguf, quant_type required
//   convert_state:      checkpoints/**.pth -> states/**.bin
// Kind-specific parameter values the engine decides (quant type names) are checked by the
// JobExecutor, not here.
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"
#include "services/converter/job.h"

namespace rwkv::converter {

inline constexpr char kDefaultVocab[] = "checkpoints/rwkv_vocab_v20230424.txt";
inline constexpr char kDefaultOuttype[] = "f16";
inline constexpr uint32_t kDefaultEvalCtx = 512;
inline constexpr uint32_t kMaxEvalCtx = 65536;

// Absolute paths of a job's files.
struct JobPaths {
  std::filesystem::path input;
  std::filesystem::path output;
  std::filesystem::path vocab;      // empty unless convert_checkpoint
  std::filesystem::path eval_text;  // empty unless a quantize job names one
};

// Fills defaults into `spec` (vocab, outtype, eval_ctx; outtype lowercased), then checks it.
// InvalidArgument for an unsafe name (see ResolveStoragePath), a wrong folder or extension for
// the kind, input == output, or a bad outtype / missing quant_type; NotFound when the input or
// vocab or eval_text is not a regular file; AlreadyExists when the output exists and
// !spec.overwrite.
absl::StatusOr<JobPaths> PrepareJobSpec(const std::filesystem::path& root, JobSpec& spec);

// Resolves the names of an already validated spec without touching the files' existence.
absl::StatusOr<JobPaths> ResolveJobPaths(const std::filesystem::path& root, const JobSpec& spec);

}  // namespace rwkv::converter
