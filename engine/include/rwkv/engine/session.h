// One sequence on a model: its recurrent state, the state it started from, and a convenience
// Feed() for single-sequence use. Batching callers (the worker) keep RecurrentStates
// themselves and call Model::Evaluate with many at once.
//
// A Session refers to its Model, which must outlive it. Not thread-safe.
#pragma once

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rwkv/engine/model.h"
#include "rwkv/engine/recurrent_state.h"

namespace rwkv::engine {

class Session {
 public:
  // Starts from the zero state.
  explicit Session(Model& model);
  // Starts from `initial` (e.g. a state file's); InvalidArgument for another model shape.
  static absl::StatusOr<Session> FromState(Model& model, RecurrentState initial);

  Model& model() const { return *model_; }
  RecurrentState& state() { return state_; }
  const RecurrentState& state() const { return state_; }
  // Tokens fed since the start or the last Reset().
  uint64_t n_past() const { return n_past_; }

  // Back to the initial state.
  void Reset();
  // An independent copy (same model, same current and initial state).
  Session Clone() const { return *this; }

  // Feeds `tokens` (at least one) and writes the logits after the last one to `logits`
  // (n_vocab floats) unless it is null. Errors as Model::Evaluate.
  absl::Status Feed(std::span<const int32_t> tokens, float* logits);

 private:
  Session(Model& model, RecurrentState initial);

  Model* model_;
  RecurrentState initial_;
  RecurrentState state_;
  uint64_t n_past_ = 0;
};

}  // namespace rwkv::engine
