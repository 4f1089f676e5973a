// Reads an RWKV-6 GGUF's hyper-parameters (docs/engine/gguf.md, "Metadata keys") type-strictly
// and completes them from the tensor shapes (F, V, Dm, Dd come from the tensors).
#pragma once

#include "absl/status/statusor.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/model.h"

namespace rwkv::engine {

// InvalidArgument (wrong architecture, wrong key type, inconsistent values) or NotFound
// (required key or tensor missing); messages name the file and the key or tensor.
absl::StatusOr<ModelConfig> ReadModelConfig(const GgufFile& file);

}  // namespace rwkv::engine
