// Quality of a quantize job's output (JobSpec.eval_text): perplexity of the source and of the
// result over the text and the KL divergence of the result from the source, with the engine's
// llama-perplexity arithmetic (rwkv/engine/perplexity.h, docs/perplexity.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "rwkv/engine/model.h"
#include "rwkv/engine/progress.h"
#include "services/converter/job.h"
#include "services/converter/job_spec.h"

namespace rwkv::converter {

// The source model and the tokenized text, checked before quantizing.
struct QualityEval {
  std::unique_ptr<engine::Model> source;
  std::vector<int32_t> tokens;
};

// Loads the source model (CPU, `threads`), reads and tokenizes paths.eval_text. Errors name
// eval_text: NotFound / InvalidArgument for an unreadable file, InvalidArgument when it has
// fewer than 2·eval_ctx tokens.
absl::StatusOr<QualityEval> PrepareQualityEval(const JobSpec& spec, const JobPaths& paths,
                                               int threads);

// Runs the source over the text (writing its log-probabilities to `base_path`, removed
// afterwards), then the quantized model at `result_path` against them. Cancelled as soon as
// control.cancelled() is seen between chunks.
absl::StatusOr<QuantizationQuality> MeasureQuality(const JobSpec& spec, QualityEval& eval,
                                                   const std::filesystem::path& result_path,
                                                   const std::filesystem::path& base_path,
                                                   int threads, const engine::JobControl& control);

}  // namespace rwkv::converter
