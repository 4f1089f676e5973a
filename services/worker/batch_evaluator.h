// The seam between the scheduler and the model: one batched forward step. The production
// implementation is ModelEvaluator (an engine::Model); unit tests use a fake with cheap,
// deterministic logits.
#pragma once

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "rwkv/engine/model.h"
#include "rwkv/engine/recurrent_state.h"

namespace rwkv::worker {

class BatchEvaluator {
 public:
  virtual ~BatchEvaluator() = default;
  // engine::Model::Evaluate semantics: every sequence's tokens are fed in order, its state
  // advanced in place and the requested logits written.
  virtual absl::Status Evaluate(std::span<const engine::SequenceInput> batch) = 0;
  virtual int32_t n_vocab() const = 0;
  virtual engine::StateShape state_shape() const = 0;
  // Evaluate may leave the states it advanced in device memory, their host copies stale
  // (engine::ModelOptions::keep_states_on_device). This writes them back into their host
  // objects; the scheduler calls it before it reads, writes or releases a state itself.
  virtual absl::Status SyncStates() { return absl::OkStatus(); }
};

// Forwards to an engine::Model, which must outlive it.
class ModelEvaluator : public BatchEvaluator {
 public:
  explicit ModelEvaluator(engine::Model& model) : model_(model) {}
  absl::Status Evaluate(std::span<const engine::SequenceInput> batch) override {
    return model_.Evaluate(batch);
  }
  int32_t n_vocab() const override { return static_cast<int32_t>(model_.config().n_vocab); }
  engine::StateShape state_shape() const override { return model_.state_shape(); }
  absl::Status SyncStates() override { return model_.SyncStates(); }

 private:
  engine::Model& model_;
};

}  // namespace rwkv::worker
