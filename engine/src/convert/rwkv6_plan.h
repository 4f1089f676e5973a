// Maps an official RWKV-6 (x060) state dict onto llama.cpp's GGUF tensors
// (docs/engine/checkpoint-conversion.md): hyper-parameters from shapes, every shape validated,
// tensors in checkpoint order with the five time_maa_{w,k,v,r,g} fused at the position of
// time_maa_g.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "rwkv/engine/pth_reader.h"

namespace rwkv::engine::convert {

struct Rwkv6Hparams {
  uint32_t n_layer = 0;
  uint32_t n_embd = 0;                // C
  uint32_t n_vocab = 0;               // V
  uint32_t n_head = 0;                // H
  uint32_t head_size = 0;             // S
  uint32_t n_ffn = 0;                 // F
  uint32_t time_mix_extra_dim = 0;    // Dm
  uint32_t time_decay_extra_dim = 0;  // Dd
};

enum class Transform {
  kAsIs,       // keep row-major order (vectors are squeezed)
  kTranspose,  // 2-D (a, b) -> (b, a)
  kSwapLast2,  // 3-D (a, b, c) -> (a, c, b)
  kStack,      // sources stacked along a new outer axis
};

struct PlannedTensor {
  std::string name;                           // GGUF name
  std::vector<const PthTensorInfo*> sources;  // 5 for the fused lerp, else 1
  Transform transform = Transform::kAsIs;
  std::vector<int64_t> ne;  // ggml dims, fastest first; n_dims = ne.size()
  bool projection = false;  // a 2-D weight stored in the output type; else F32
  float scale = 1.0f;       // applied in f32 before the type conversion (rescale)
  uint64_t numel() const;
};

struct Rwkv6Plan {
  Rwkv6Hparams hparams;
  std::vector<PlannedTensor> tensors;
};

// InvalidArgument naming the checkpoint and the offending tensor when the checkpoint is not
// RWKV-6 (RWKV-4/5/7 are recognised and named), is incomplete, or has an inconsistent shape.
// `rescale_every` > 0 divides att.output and ffn.value of layer N by 2^floor(N / rescale_every).
absl::StatusOr<Rwkv6Plan> PlanRwkv6Conversion(const PthCheckpoint& ckpt, uint32_t rescale_every);

}  // namespace rwkv::engine::convert
