// Per-sequence generation logic shared by `rwkv generate` and the worker's continuous
// batching: after each forward step the caller hands the sequence's last logits to
// GenerationStream::Next(), which samples, updates penalties, streams UTF-8-safe text, and
// decides whether the sequence has finished. Batching and evaluation stay with the caller,
// so one sequence yields the same tokens whether it runs alone or in a batch.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "rwkv/engine/sampler.h"
#include "rwkv/engine/text_stream.h"
#include "rwkv/engine/tokenizer.h"

namespace rwkv::engine {

enum class FinishReason {
  kNone,    // still running
  kLength,  // max_tokens generated
  kStop,    // a stop string, a stop token id or an end-of-generation token
};

struct GenerationOptions {
  SamplerParams sampling;
  StopConditions stop;
  // Stop at the tokenizer's end-of-generation ids (eos, eot), as llama-cli does unless
  // --ignore-eos is given.
  bool stop_at_end_of_generation = true;
};

// InvalidArgument for sampling or stop parameters out of range.
absl::Status ValidateGenerationOptions(const GenerationOptions& options);

struct GenerationStep {
  int32_t token = -1;
  std::string text;  // bytes safe to emit now (never a split UTF-8 character)
  FinishReason finish = FinishReason::kNone;
  // Whether `token` must still be fed to the model to continue (false once finished).
  bool feed = true;
};

class GenerationStream {
 public:
  // `tokenizer` must outlive the stream.
  GenerationStream(const Tokenizer& tokenizer, GenerationOptions options);

  // Samples the next token from the logits after the last fed token (modified in place).
  GenerationStep Next(std::span<float> logits);
  // Remaining held-back text once generation ends (incomplete UTF-8 tail, partial stop
  // string that never completed). Empty when a stop string ended the stream.
  std::string Flush();

  int64_t generated() const { return generated_; }
  FinishReason finish() const { return finish_; }

 private:
  const Tokenizer& tokenizer_;
  GenerationOptions options_;
  Sampler sampler_;
  TextStreamer streamer_;
  int64_t generated_ = 0;
  FinishReason finish_ = FinishReason::kNone;
};

}  // namespace rwkv::engine
