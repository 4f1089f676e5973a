// The RWKV-6 tensor set (docs/engine/gguf.md, "Tensors"), validated by name, shape and type and
// prepared on a backend device (in place from the mapping on the CPU).
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "backend/backend.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/model.h"

namespace rwkv::engine {

struct LayerWeights {
  backend::WeightView ln1_w, ln1_b, ln2_w, ln2_b;
  backend::WeightView lerp_x;
  backend::WeightView lerp[5];                               // w, k, v, r, g: F32 vectors of C
  backend::WeightView mix_w1;                                // 5·Dm × C
  backend::WeightView mix_w2[5];                             // C × Dm each
  backend::WeightView decay;                                 // time_decay, F32 C
  backend::WeightView decay_w1;                              // Dd × C
  backend::WeightView decay_w2;                              // C × Dd
  backend::WeightView first;                                 // u, F32 H·S
  backend::WeightView receptance, key, value, gate, output;  // C × C
  backend::WeightView lnx_w, lnx_b;
  backend::WeightView cm_lerp_k, cm_lerp_r;
  backend::WeightView cm_key;         // F × C
  backend::WeightView cm_value;       // C × F
  backend::WeightView cm_receptance;  // C × C
};

struct ModelWeights {
  backend::WeightView embd;  // V × C
  backend::WeightView ln0_w, ln0_b, ln_out_w, ln_out_b;
  backend::WeightView head;  // V × C
  std::vector<LayerWeights> layers;
};

// Errors name the file and tensor: NotFound (missing), InvalidArgument (shape, or a type
// that is not allowed for that tensor), Unimplemented (a type the device cannot multiply).
absl::StatusOr<ModelWeights> LoadModelWeights(const GgufFile& file, const ModelConfig& config,
                                              backend::Device& device);

}  // namespace rwkv::engine
