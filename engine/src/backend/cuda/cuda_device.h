// The CUDA backend: weights uploaded once to device memory, activations and bound states
// resident on the device, ops enqueued on one CUDA stream per backend::Stream.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backend/backend.h"

namespace rwkv::engine::cuda {

// Unavailable with one clear line when no driver or no device is present, InvalidArgument for
// a device index out of range.
absl::StatusOr<std::unique_ptr<backend::Device>> CreateCudaDevice(
    const backend::DeviceOptions& options);

// One line per visible GPU ("0: NVIDIA H200, 139.8 GiB, sm_90"); Unavailable as above.
absl::StatusOr<std::vector<std::string>> ListCudaDevices();

}  // namespace rwkv::engine::cuda
