// The tensors of a synthetic RWKV-6 model in converter order, each with the rule that draws
// its values (see synth.h for the recipe and its provenance).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rwkv/engine/synth.h"

namespace rwkv::engine::synth {

struct TensorRecipe {
  std::string name;
  std::vector<int64_t> ne;  // ggml order, fastest first; its size is the stored n_dims
  bool forced_f32 = false;  // vectors, norms, lerps, LoRA, decay, first
  float mean = 0.0f;
  float stddev = 0.0f;
  float scale = 1.0f;  // applied last (rescale_every); a power of two
  bool clip = false;
  float lo = 0.0f;
  float hi = 0.0f;
  std::function<float(int64_t)> curve;  // optional, added to mean; argument: flat index

  int64_t n_elements() const;
};

// All 6 + 24·L tensors for `shape` (defaults resolved) in the order llama.cpp's converter
// writes them (docs/engine/checkpoint-conversion.md, "Tensor order").
std::vector<TensorRecipe> BuildRecipes(const SynthShape& shape, int64_t rescale_every);

// Writes the values of elements [begin, begin + count) of `recipe` to `out`, drawing from the
// stream `key`. The caller keys each fixed work unit separately.
void FillValues(const TensorRecipe& recipe, uint64_t key, int64_t begin, int64_t count, float* out);

}  // namespace rwkv::engine::synth
