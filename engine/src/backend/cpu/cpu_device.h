// The CPU backend: weights used in place from the GGUF mapping, a persistent thread pool,
// SIMD kernels picked once at start-up (or forced, for parity tests and benchmarks).
#pragma once

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "backend/backend.h"
#include "backend/cpu/kernels.h"

namespace rwkv::engine::cpu {

// `isa` forces a kernel table (FailedPrecondition when this CPU or build lacks it).
absl::StatusOr<std::unique_ptr<backend::Device>> CreateCpuDevice(
    const backend::DeviceOptions& options, std::optional<Isa> isa = std::nullopt);

}  // namespace rwkv::engine::cpu
