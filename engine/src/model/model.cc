#include "rwkv/engine/model.h"

#include <algorithm>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backend/backend.h"
#include "model/forward.h"
#include "model/model_config.h"
#include "model/model_weights.h"

namespace rwkv::engine {

class Model::Impl {
 public:
  std::unique_ptr<GgufFile> file;
  ModelConfig config;
  std::unique_ptr<backend::Device> device;
  ModelWeights weights;
  std::unique_ptr<ForwardPass> forward;
  uint64_t weight_bytes_per_token = 0;
  std::mutex mu;

  absl::Status Validate(std::span<const SequenceInput> batch) const;
  absl::Status Evaluate(std::span<const SequenceInput> batch);
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& path,
                                                   const ModelOptions& options) {
  auto impl = std::make_unique<Impl>();
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(path);
  if (!file.ok()) return file.status();
  impl->file = std::move(*file);
  absl::StatusOr<ModelConfig> config = ReadModelConfig(*impl->file);
  if (!config.ok()) return config.status();
  impl->config = *config;
  backend::DeviceOptions dopts;
  dopts.threads = options.threads;
  dopts.device = options.device;
  dopts.keep_states_on_device = options.keep_states_on_device;
  dopts.precision = options.precision;
  absl::StatusOr<std::unique_ptr<backend::Device>> device =
      backend::CreateDevice(options.backend, dopts);
  if (!device.ok()) return device.status();
  impl->device = std::move(*device);
  absl::StatusOr<ModelWeights> weights = LoadModelWeights(*impl->file, impl->config, *impl->device);
  if (!weights.ok()) return weights.status();
  impl->weights = std::move(*weights);
  const int64_t max_rows = std::max(1, options.max_step_tokens);
  absl::StatusOr<std::unique_ptr<ForwardPass>> forward =
      ForwardPass::Create(impl->config, impl->weights, *impl->device, max_rows);
  if (!forward.ok()) return forward.status();
  impl->forward = std::move(*forward);
  for (const GgufTensorInfo& t : impl->file->tensors()) {
    impl->weight_bytes_per_token +=
        t.name == "token_embd.weight" ? RowBytes(t.type, t.ne[0]) : t.size_bytes;
  }
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

const ModelConfig& Model::config() const { return impl_->config; }
const GgufFile& Model::gguf() const { return *impl_->file; }
const std::string& Model::path() const { return impl_->file->path(); }
std::string Model::backend_description() const { return impl_->device->description(); }
uint64_t Model::weight_bytes_per_token() const { return impl_->weight_bytes_per_token; }

absl::Status Model::CheckState(const RecurrentState& state) const {
  const StateShape want = state_shape();
  if (state.shape != want) {
    return absl::InvalidArgumentError(absl::StrCat(
        "state has shape (n_layer ", state.shape.n_layer, ", n_embd ", state.shape.n_embd,
        ", head_size ", state.shape.head_size, ") but model ", path(), " needs (n_layer ",
        want.n_layer, ", n_embd ", want.n_embd, ", head_size ", want.head_size, ")"));
  }
  if (state.shift.size() != want.n_layer * want.shift_floats_per_layer() ||
      state.wkv.size() != want.n_layer * want.wkv_floats_per_layer()) {
    return absl::InvalidArgumentError("state buffers do not match the state shape");
  }
  return absl::OkStatus();
}

absl::Status Model::Impl::Validate(std::span<const SequenceInput> batch) const {
  std::unordered_set<const RecurrentState*> seen;
  for (size_t i = 0; i < batch.size(); ++i) {
    const SequenceInput& in = batch[i];
    if (in.state == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", i, " has no state"));
    }
    if (!seen.insert(in.state).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", i, " uses a state already listed in this batch"));
    }
    if (in.tokens.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", i, " has no tokens"));
    }
    if (in.logits != LogitsMode::kNone && in.logits_out == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", i, " has no logits buffer"));
    }
    for (int32_t t : in.tokens) {
      if (t < 0 || static_cast<uint32_t>(t) >= config.n_vocab) {
        return absl::InvalidArgumentError(absl::StrCat("sequence ", i, ": token id ", t,
                                                       " is out of range for the vocabulary of ",
                                                       config.n_vocab, " tokens"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Model::Impl::Evaluate(std::span<const SequenceInput> batch) {
  const int64_t max_rows = forward->max_rows();
  const int64_t n_vocab = config.n_vocab;
  std::vector<size_t> done(batch.size(), 0);
  std::vector<int32_t> tokens;
  std::vector<RecurrentState*> states;
  std::vector<LogitsRow> logits;
  backend::StepLayout layout;
  size_t next_seq = 0;
  for (;;) {
    // Pack the next step: the remaining tokens of the sequences in order, at most max_rows.
    tokens.clear();
    states.clear();
    logits.clear();
    layout.seq_begin.assign(1, 0);
    size_t s = next_seq;
    while (s < batch.size() && static_cast<int64_t>(tokens.size()) < max_rows) {
      const SequenceInput& in = batch[s];
      const size_t begin = done[s];
      const size_t count =
          std::min<size_t>(in.tokens.size() - begin, static_cast<size_t>(max_rows) - tokens.size());
      const int64_t row0 = static_cast<int64_t>(tokens.size());
      tokens.insert(tokens.end(), in.tokens.begin() + begin, in.tokens.begin() + begin + count);
      for (size_t i = 0; i < count; ++i) {
        const size_t pos = begin + i;
        if (in.logits == LogitsMode::kAll) {
          logits.push_back({row0 + static_cast<int64_t>(i), in.logits_out + pos * n_vocab});
        } else if (in.logits == LogitsMode::kLast && pos + 1 == in.tokens.size()) {
          logits.push_back({row0 + static_cast<int64_t>(i), in.logits_out});
        }
      }
      states.push_back(in.state);
      layout.seq_begin.push_back(static_cast<int64_t>(tokens.size()));
      done[s] += count;
      if (done[s] == in.tokens.size()) ++s;
    }
    if (tokens.empty()) return absl::OkStatus();
    next_seq = s;
    if (absl::Status st = forward->Run(tokens, layout, states, logits); !st.ok()) return st;
  }
}

absl::Status Model::Evaluate(std::span<const SequenceInput> batch) {
  for (const SequenceInput& in : batch) {
    if (in.state != nullptr) {
      if (absl::Status s = CheckState(*in.state); !s.ok()) return s;
    }
  }
  if (absl::Status s = impl_->Validate(batch); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->Evaluate(batch);
}

absl::Status Model::SyncStates() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->forward->FlushStates();
}

absl::Status Model::EvaluateAll(RecurrentState& state, std::span<const int32_t> tokens,
                                float* logits_all) {
  SequenceInput in;
  in.state = &state;
  in.tokens = tokens;
  in.logits = logits_all != nullptr ? LogitsMode::kAll : LogitsMode::kNone;
  in.logits_out = logits_all;
  return Evaluate(std::span<const SequenceInput>(&in, 1));
}

}  // namespace rwkv::engine
