// The Vulkan instance side: loading the loader, creating an instance (with the validation layer
// when RWKV_VULKAN_VALIDATION=1), and describing the physical devices for `rwkv devices` and
// device selection.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "backend/vulkan/vk_api.h"

namespace rwkv::engine::vulkan {

// What a physical device offers that the kernels care about.
struct DeviceFeatures {
  uint32_t api_version = 0;
  bool buffer_device_address = false;
  bool storage_8bit = false;
  bool storage_16bit = false;
  bool int64 = false;
  bool int8 = false;
  bool fp16 = false;
  bool int_dot_product = false;  // VK_KHR_shader_integer_dot_product
  uint32_t subgroup_size = 0;
  bool subgroup_arithmetic = false;
  // Whether every compute dispatch runs with subgroup_size (Vulkan 1.3 min == max).
  bool fixed_subgroup_size = false;

  // Why the backend cannot run on this device; empty when it can.
  std::string MissingRequirement() const;
  // "subgroup 32 (arithmetic), fp16, int8, int-dot".
  std::string Summary() const;
  // The subgroup size the matrix products reduce with (one row per subgroup, subgroupAdd), or
  // 0 for the shared-memory reduction: needs arithmetic subgroup operations at a fixed power of
  // two size from 4 to 64. RWKV_VULKAN_SUBGROUPS=0 forces the shared-memory path.
  uint32_t MatMulSubgroupSize() const;
  // What the compute shaders use on this device: "f32 arithmetic, buffer device addresses, ...".
  std::string KernelFeatures() const;
};

struct PhysicalDeviceInfo {
  int index = 0;
  std::string name;
  std::string type;  // "discrete", "integrated", "cpu", "virtual", "other"
  uint64_t device_local_bytes = 0;
  DeviceFeatures features;
};

// Whether the validation layer is requested (RWKV_VULKAN_VALIDATION=1): tests turn it on.
bool ValidationRequested();
// Validation messages of error severity seen by this process so far.
int64_t ValidationErrorCount();

// Every Vulkan device of this machine; Unavailable with a one-line reason when there is no
// loader or no driver.
absl::StatusOr<std::vector<PhysicalDeviceInfo>> ListPhysicalDevices();

// Loads the loader and creates an instance; `messenger` (may be null) receives the validation
// layer's messages when validation is requested. Unavailable with a one-line reason when there
// is no loader or no driver.
absl::Status CreateInstance(Api& api, VkInstance* instance, VkDebugUtilsMessengerEXT* messenger);
// The instance's physical devices; Unavailable when there are none.
absl::StatusOr<std::vector<VkPhysicalDevice>> PhysicalDevices(const Api& api, VkInstance instance);
PhysicalDeviceInfo Describe(const Api& api, VkPhysicalDevice device, int index);

}  // namespace rwkv::engine::vulkan
