// An RWKV-6 model loaded from a llama.cpp-compatible GGUF (docs/engine/gguf.md,
// docs/engine/forward-pass.md), and the
// batched forward pass a continuous-batching worker drives.
//
// Weights are used in place from the file's read-only mapping, whatever their type (F32,
// F16, BF16, Q8_0, Q5_0, Q5_1, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K): no dequantized copy exists.
// The model holds no per-sequence data; every sequence brings its own RecurrentState.
//
// Thread-safety: the const accessors may be called from any thread. Evaluate() serializes
// its callers internally (one forward pass at a time; pass several sequences in one call to
// share the weight reads).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/precision.h"
#include "rwkv/engine/recurrent_state.h"

namespace rwkv::engine {

// Hyper-parameters, read type-strictly from the metadata and checked against the tensors.
struct ModelConfig {
  uint32_t n_embd = 0;                // C
  uint32_t n_layer = 0;               // L
  uint32_t head_size = 0;             // S
  uint32_t n_head = 0;                // H = C / S
  uint32_t n_ffn = 0;                 // F, from channel_mix_key
  uint32_t n_vocab = 0;               // V, from token_embd
  uint32_t time_mix_extra_dim = 0;    // Dm
  uint32_t time_decay_extra_dim = 0;  // Dd
  uint32_t rescale_every = 0;         // rescale_every_n_layers; 0 = never
  float eps = 1e-5f;                  // attention.layer_norm_epsilon (LayerNorm)
  float group_norm_eps = 64e-5f;      // ln_x, fixed (docs/engine/forward-pass.md, "Group norm")

  StateShape state_shape() const { return StateShape{n_layer, n_embd, head_size}; }
};

struct ModelOptions {
  int threads = 0;              // CPU threads; 0 = all cores
  std::string backend = "cpu";  // see AvailableBackends()
  int device = 0;               // accelerator index for GPU backends (`rwkv devices`)
  // GPU backends: keep the states of the last Evaluate() call in device memory, so that a
  // decode loop over the same state objects moves no state over the bus. Their host copies
  // (shift, wkv) are then stale: call SyncStates() before reading, changing or destroying a
  // state evaluated this way. No effect on the CPU.
  bool keep_states_on_device = false;
  // Upper bound on the tokens one internal step processes (longer prompts are chunked).
  int max_step_tokens = 256;
  // CPU backend: kFast multiplies Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q4_K/Q5_K weights by 8-bit
  // activations (see precision.h); other backends ignore it.
  Precision precision = Precision::kExact;
};

// Which logits a sequence wants from one Evaluate() call.
enum class LogitsMode {
  kNone,  // only advance the state
  kLast,  // n_vocab floats: after the last token
  kAll,   // tokens.size() × n_vocab floats: after every token, in order
};

// One sequence of a batch: its state (updated in place), its new tokens (at least one),
// and where its logits go.
struct SequenceInput {
  RecurrentState* state = nullptr;
  std::span<const int32_t> tokens;
  LogitsMode logits = LogitsMode::kLast;
  float* logits_out = nullptr;  // required unless logits == kNone
};

class Model {
 public:
  // Opens and validates `path`: architecture rwkv6, the hyper-parameters, and every tensor
  // by name, shape and type. Errors name the file and the key or tensor: InvalidArgument for
  // bad content, NotFound for a missing file/tensor/key, Unimplemented for an unsupported
  // tensor type, NotFound/Unavailable for an unknown backend.
  static absl::StatusOr<std::unique_ptr<Model>> Load(const std::string& path,
                                                     const ModelOptions& options = {});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const;
  // The parsed file (metadata, tokenizer vocabulary); lives as long as the model.
  const GgufFile& gguf() const;
  const std::string& path() const;
  // "cpu avx2, 2 threads".
  std::string backend_description() const;

  StateShape state_shape() const { return config().state_shape(); }
  RecurrentState NewState() const { return RecurrentState::Zero(state_shape()); }
  // InvalidArgument when `state` was made for another model shape.
  absl::Status CheckState(const RecurrentState& state) const;

  // Bytes read from the weights per decoded token: every tensor except token_embd, plus one
  // row of token_embd.
  uint64_t weight_bytes_per_token() const;

  // Evaluates every sequence of `batch` (each state at most once per call): feeds its
  // tokens in order, advances its state and writes the requested logits. The whole batch is
  // validated first; on InvalidArgument (a token id >= n_vocab, an empty token list, a
  // missing state or logits buffer, a state of another shape, a state listed twice) nothing
  // was evaluated. After an internal backend failure the batch's states are unspecified.
  absl::Status Evaluate(std::span<const SequenceInput> batch);

  // Convenience: one sequence, logits for every token (tokens.size() × n_vocab) or none.
  absl::Status EvaluateAll(RecurrentState& state, std::span<const int32_t> tokens,
                           float* logits_all);

  // With keep_states_on_device: writes the states held on the device back into their host
  // objects (which must still be alive). Cheap when there are none.
  absl::Status SyncStates();

  class Impl;

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace rwkv::engine
