// The Vulkan backend: weights uploaded once to device-local memory, scratch and states on the
// device, ops recorded into a command buffer and submitted at Synchronize (vulkan_stream.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backend/backend.h"

namespace rwkv::engine::vulkan {

// Device `options.device` of the machine's Vulkan devices (`rwkv devices` lists them).
absl::StatusOr<std::unique_ptr<backend::Device>> CreateVulkanDevice(
    const backend::DeviceOptions& options);

// One line per Vulkan device: index, name, type, memory and the features the kernels use, or
// Unavailable with a one-line reason when there is no loader, driver or device.
absl::StatusOr<std::vector<std::string>> DescribeVulkanDevices();

}  // namespace rwkv::engine::vulkan
