// The Vulkan entry points this backend uses, loaded at run time from the system loader
// (libvulkan.so.1), so that a machine without the loader gets an error instead of a binary
// that cannot start.
#pragma once

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <string_view>

#include "absl/status/status.h"

namespace rwkv::engine::vulkan {

#define RWKV_VK_GLOBAL_FUNCTIONS(X)     \
  X(vkCreateInstance)                   \
  X(vkEnumerateInstanceLayerProperties) \
  X(vkEnumerateInstanceExtensionProperties)

#define RWKV_VK_INSTANCE_FUNCTIONS(X)         \
  X(vkDestroyInstance)                        \
  X(vkEnumeratePhysicalDevices)               \
  X(vkGetPhysicalDeviceProperties)            \
  X(vkGetPhysicalDeviceProperties2)           \
  X(vkGetPhysicalDeviceFeatures2)             \
  X(vkGetPhysicalDeviceMemoryProperties)      \
  X(vkGetPhysicalDeviceQueueFamilyProperties) \
  X(vkEnumerateDeviceExtensionProperties)     \
  X(vkCreateDevice)                           \
  X(vkGetDeviceProcAddr)                      \
  X(vkCreateDebugUtilsMessengerEXT)           \
  X(vkDestroyDebugUtilsMessengerEXT)

#define RWKV_VK_DEVICE_FUNCTIONS(X) \
  X(vkDestroyDevice)                \
  X(vkGetDeviceQueue)               \
  X(vkCreateBuffer)                 \
  X(vkDestroyBuffer)                \
  X(vkGetBufferMemoryRequirements)  \
  X(vkAllocateMemory)               \
  X(vkFreeMemory)                   \
  X(vkBindBufferMemory)             \
  X(vkMapMemory)                    \
  X(vkUnmapMemory)                  \
  X(vkGetBufferDeviceAddress)       \
  X(vkCreateShaderModule)           \
  X(vkDestroyShaderModule)          \
  X(vkCreatePipelineLayout)         \
  X(vkDestroyPipelineLayout)        \
  X(vkCreateComputePipelines)       \
  X(vkDestroyPipeline)              \
  X(vkCreateCommandPool)            \
  X(vkDestroyCommandPool)           \
  X(vkAllocateCommandBuffers)       \
  X(vkFreeCommandBuffers)           \
  X(vkBeginCommandBuffer)           \
  X(vkEndCommandBuffer)             \
  X(vkResetCommandBuffer)           \
  X(vkCmdBindPipeline)              \
  X(vkCmdPushConstants)             \
  X(vkCmdDispatch)                  \
  X(vkCmdPipelineBarrier)           \
  X(vkCmdCopyBuffer)                \
  X(vkCmdFillBuffer)                \
  X(vkCreateFence)                  \
  X(vkDestroyFence)                 \
  X(vkResetFences)                  \
  X(vkWaitForFences)                \
  X(vkQueueSubmit)

struct Api {
#define RWKV_VK_DECLARE(name) PFN_##name name = nullptr;
  RWKV_VK_GLOBAL_FUNCTIONS(RWKV_VK_DECLARE)
  RWKV_VK_INSTANCE_FUNCTIONS(RWKV_VK_DECLARE)
  RWKV_VK_DEVICE_FUNCTIONS(RWKV_VK_DECLARE)
#undef RWKV_VK_DECLARE
  PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr = nullptr;
};

// Opens the loader once per process and fills the global entry points; Unavailable with a
// one-line reason when there is no loader.
absl::Status LoadGlobalApi(Api& api);
// Fills the instance- and device-level entry points (extension functions may stay null).
void LoadInstanceApi(Api& api, VkInstance instance);

// A zeroed Vulkan structure with its sType set.
template <typename T>
T VkStruct(VkStructureType type) {
  T value{};
  value.sType = type;
  return value;
}

// "VK_ERROR_INCOMPATIBLE_DRIVER" and the like.
const char* ResultName(VkResult result);
// Internal "vulkan: <what> failed (<result>)".
absl::Status VkError(std::string_view what, VkResult result);

}  // namespace rwkv::engine::vulkan
