#include "rwkv/engine/generation.h"

namespace rwkv::engine {

absl::Status ValidateGenerationOptions(const GenerationOptions& options) {
  if (auto s = ValidateSamplerParams(options.sampling); !s.ok()) return s;
  return ValidateStopConditions(options.stop);
}

GenerationStream::GenerationStream(const Tokenizer& tokenizer, GenerationOptions options)
    : tokenizer_(tokenizer),
      options_(std::move(options)),
      sampler_(options_.sampling),
      streamer_(options_.stop.stop_strings) {}

GenerationStep GenerationStream::Next(std::span<float> logits) {
  GenerationStep step;
  if (finish_ != FinishReason::kNone) {
    step.finish = finish_;
    step.feed = false;
    return step;
  }
  step.token = sampler_.Sample(logits);
  sampler_.Accept(step.token);
  ++generated_;

  const bool stop_token =
      options_.stop.IsStopToken(step.token) ||
      (options_.stop_at_end_of_generation && tokenizer_.IsEndOfGeneration(step.token));
  if (stop_token) {
    // Like llama-cli, the end-of-generation token itself is not printed.
    finish_ = FinishReason::kStop;
    step.text = streamer_.Flush();
  } else {
    // Piece() is what Decode() emits: control and unknown tokens render as nothing.
    const std::string_view bytes =
        tokenizer_.IsValidId(step.token) ? tokenizer_.Piece(step.token) : std::string_view();
    TextDelta delta = streamer_.Push(bytes);
    step.text = std::move(delta.text);
    if (delta.stopped) {
      finish_ = FinishReason::kStop;
    } else if (options_.stop.ReachedMaxTokens(generated_)) {
      finish_ = FinishReason::kLength;
      step.text += streamer_.Flush();
    }
  }
  step.finish = finish_;
  step.feed = finish_ == FinishReason::kNone;
  return step;
}

std::string GenerationStream::Flush() {
  if (streamer_.stopped()) return std::string();
  return streamer_.Flush();
}

}  // namespace rwkv::engine
