// One forward step of RWKV-6 (docs/engine/forward-pass.md) over a batch of sequences, written
// against the backend interface only: embeddings, the layer loop, and the head for the rows
// whose logits were asked for.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "backend/backend.h"
#include "model/model_weights.h"
#include "rwkv/engine/model.h"

namespace rwkv::engine {

// A row of the step whose logits go to `dst` (n_vocab floats, host memory).
struct LogitsRow {
  int64_t row = 0;
  float* dst = nullptr;
};

class ForwardPass {
 public:
  // Allocates scratch for steps of up to `max_rows` tokens.
  static absl::StatusOr<std::unique_ptr<ForwardPass>> Create(const ModelConfig& config,
                                                             const ModelWeights& weights,
                                                             backend::Device& device,
                                                             int64_t max_rows);

  int64_t max_rows() const { return max_rows_; }
  absl::Status FlushStates() { return stream_->FlushStates(); }

  // `tokens` holds the rows of `layout` in order (validated ids); states[s] belongs to
  // sequence s and is advanced in place.
  absl::Status Run(std::span<const int32_t> tokens, const backend::StepLayout& layout,
                   std::span<RecurrentState* const> states, std::span<const LogitsRow> logits);

 private:
  ForwardPass(const ModelConfig& config, const ModelWeights& weights, int64_t max_rows)
      : config_(config), weights_(weights), max_rows_(max_rows) {}
  void Layer(int l, int64_t rows);
  void Head(int64_t rows, std::span<const LogitsRow> logits);

  // Rows [0, rows) of a scratch matrix.
  backend::Tensor T(const backend::Tensor& t, int64_t rows) const { return t.RowRange(0, rows); }

  const ModelConfig& config_;
  const ModelWeights& weights_;
  int64_t max_rows_;
  std::unique_ptr<backend::Stream> stream_;
  std::vector<std::unique_ptr<backend::Buffer>> buffers_;
  // Activations, one row per token.
  backend::Tensor x_, xa_, sx_, tmp_, xj_[5], r_, k_, v_, g_, w_, y_, h_, dd_, kk_;
  // Head: gathered rows and their logits, kHeadRows at a time.
  backend::Tensor head_in_, logits_;
};

}  // namespace rwkv::engine
