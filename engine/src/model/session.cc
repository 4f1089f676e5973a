#include "rwkv/engine/session.h"

#include <utility>

namespace rwkv::engine {

Session::Session(Model& model) : Session(model, model.NewState()) {}

Session::Session(Model& model, RecurrentState initial)
    : model_(&model), initial_(std::move(initial)), state_(initial_) {}

absl::StatusOr<Session> Session::FromState(Model& model, RecurrentState initial) {
  if (absl::Status s = model.CheckState(initial); !s.ok()) return s;
  return Session(model, std::move(initial));
}

void Session::Reset() {
  state_ = initial_;
  n_past_ = 0;
}

absl::Status Session::Feed(std::span<const int32_t> tokens, float* logits) {
  SequenceInput in;
  in.state = &state_;
  in.tokens = tokens;
  in.logits = logits != nullptr ? LogitsMode::kLast : LogitsMode::kNone;
  in.logits_out = logits;
  absl::Status s = model_->Evaluate(std::span<const SequenceInput>(&in, 1));
  if (s.ok()) n_past_ += tokens.size();
  return s;
}

}  // namespace rwkv::engine
