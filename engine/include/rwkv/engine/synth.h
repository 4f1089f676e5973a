// Random-weight RWKV-6 models at any shape, written as GGUF files with exactly the metadata,
// tensor names, shapes, order and F32-forced tensors of llama.cpp's converter
// (docs/engine/gguf.md, docs/engine/checkpoint-conversion.md). For demos, tests and benchmarks
// at real shapes.
//
// Values follow the recipe of the tiny models of the reference data set
// ("tiny-rwkv6"): emb N(0,0.5²); LayerNorm weights 1+N(0,0.1²), biases N(0,0.05²); lerps the
// RWKV-LM init curves + N(0,0.1²) clipped to [0,1]; time_decay the −6…−1 init curve +
// N(0,0.3²) clipped to [−6.5,−0.5]; time_first the init zigzag + N(0,0.1²); LoRA w1
// N(0,0.05²), w2 N(0,0.1²); receptance/value N(0,0.09²), key/gate/output N(0,0.06²); ln_x
// weight ((1+i)/L)^0.7 + N(0,0.1²); ffn key/receptance N(0,0.09²), value N(0,0.03²); head
// N(0,0.2²). Matrices that read the C-wide (or F-wide) stream have their standard deviation
// multiplied by sqrt(128/C) when C > 128, so activations and logits keep the reference
// model's scale at any width. "Normal" draws are a cheap approximation: the centred,
// rescaled sum of four uniforms (bounded at ±3.46σ). Values are a pure function of
// (seed, tensor, position): the file is byte-identical for a seed whatever the thread count.
//
// With rescale_every R > 0 the layer-N time_mix_output and channel_mix_value are divided by
// 2^⌊N/R⌋ (in f32, before the cast) and R is written to the metadata
// (docs/engine/checkpoint-conversion.md, "Rescaling").
//
// Memory: at most one tensor's output bytes plus one work unit per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "rwkv/engine/ggml_types.h"
#include "rwkv/engine/progress.h"

namespace rwkv::engine {

struct SynthOptions {
  std::string output_path;      // written atomically (temporary file, fsync, rename)
  int64_t n_embd = 2048;        // C
  int64_t n_layer = 24;         // L
  int64_t head_size = 64;       // S; C % S == 0
  int64_t n_ffn = 0;            // F; 0: int(C·3.5) // 32 · 32
  int64_t mix_lora_rank = 0;    // Dm; 0: 32, or 64 when C ≥ 4096
  int64_t decay_lora_rank = 0;  // Dd; 0: 64, or 128 when C ≥ 4096
  std::string vocab = "bytes";  // "bytes" (256 byte tokens) or a World vocab file path
  uint64_t seed = 0;
  GgmlType type = GgmlType::kF16;  // storage of the 2-D projection weights (see SynthTypes)
  int64_t rescale_every = 0;       // R
  int threads = 0;                 // 0: hardware concurrency
  JobControl control;              // progress after each tensor; cancel is polled often
};

// Sizes with the defaults filled in; what the file's metadata will say.
struct SynthShape {
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t head_size = 0;
  int64_t n_ffn = 0;
  int64_t mix_lora_rank = 0;
  int64_t decay_lora_rank = 0;
  int64_t n_vocab = 0;  // 256 for "bytes", 65536 for a World vocab
  uint64_t n_params = 0;
};

struct SynthResult {
  SynthShape shape;
  uint64_t file_bytes = 0;
  uint64_t tensor_count = 0;
  double seconds = 0;
};

// "f32 f16 bf16 q8_0 q5_1 q5_0 q4_1 q4_0": the storage types WriteSyntheticModel accepts.
std::string SynthTypes();
// The general.file_type (LLAMA_FTYPE) id for a storage type SynthTypes lists, else
// InvalidArgument.
absl::StatusOr<uint32_t> SynthFileType(GgmlType type);

// Fills in the defaults and checks the options: InvalidArgument naming the option for
// non-positive or oversized dimensions, C % head_size != 0, a type SynthTypes does not
// list, negative rescale_every or threads, an empty output path or vocab. The vocabulary
// file is not read here (n_vocab is 65536 for a World vocab).
absl::StatusOr<SynthShape> ResolveSynthShape(const SynthOptions& options);

// Writes the model. Errors: InvalidArgument as ResolveSynthShape, or for a malformed
// vocabulary file (message names it); NotFound/PermissionDenied for unreadable inputs or an
// unwritable output; Cancelled when control.cancel was raised. Nothing is left at
// output_path on failure. A tensor whose rows do not divide into the type's blocks (C or F
// not a multiple of 32) is stored as F16, as llama.cpp's converter does.
absl::StatusOr<SynthResult> WriteSyntheticModel(const SynthOptions& options);

// The same model as an official RWKV-6 (x060) torch.save checkpoint (.pth, BF16 storage, the
// state-dict names and shapes `rwkv convert` reads; time_maa_{w,k,v,r,g} unfused): the input
// for convert jobs in demos and tests. `type` is not used; rescale_every must be 0 (the
// converter applies it). Values are the GGUF model's rounded to BF16. The whole model is held
// in f32 while writing, so this is for small models; InvalidArgument past 4 GiB.
absl::StatusOr<SynthResult> WriteSyntheticCheckpoint(const SynthOptions& options);

}  // namespace rwkv::engine
