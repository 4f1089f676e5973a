// The Vulkan part of `rwkv devices`.
#pragma once

namespace rwkv::cli {

// Prints one line per Vulkan device (index, name, type, memory, the features the kernels use),
// or one line saying why there is none; returns the number of devices listed.
int PrintVulkanDevices();

}  // namespace rwkv::cli
