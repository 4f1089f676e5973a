#include "backend/vulkan/vulkan_instance.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rwkv::engine::vulkan {
namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";
std::atomic<int64_t> validation_errors{0};

VKAPI_ATTR VkBool32 VKAPI_CALL OnValidationMessage(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                   VkDebugUtilsMessageTypeFlagsEXT,
                                                   const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                   void*) {
  if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
    validation_errors.fetch_add(1);
    std::fprintf(stderr, "vulkan validation error: %s\n", data->pMessage);
  } else if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
    std::fprintf(stderr, "vulkan validation warning: %s\n", data->pMessage);
  }
  return VK_FALSE;
}

bool HasLayer(const Api& api, const char* name) {
  uint32_t count = 0;
  if (api.vkEnumerateInstanceLayerProperties(&count, nullptr) != VK_SUCCESS) return false;
  std::vector<VkLayerProperties> layers(count);
  if (api.vkEnumerateInstanceLayerProperties(&count, layers.data()) != VK_SUCCESS) return false;
  return std::any_of(layers.begin(), layers.end(), [&](const VkLayerProperties& l) {
    return std::strcmp(l.layerName, name) == 0;
  });
}

const char* TypeName(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return "cpu";
    default:
      return "other";
  }
}

}  // namespace

// Loads the loader and creates an instance (with the validation layer and its messenger when
// requested).
absl::Status CreateInstance(Api& api, VkInstance* instance, VkDebugUtilsMessengerEXT* messenger) {
  if (absl::Status s = LoadGlobalApi(api); !s.ok()) return s;
  const bool validation = ValidationRequested();
  std::vector<const char*> layers, extensions;
  if (validation) {
    if (!HasLayer(api, kValidationLayer)) {
      return absl::FailedPreconditionError(
          "vulkan: RWKV_VULKAN_VALIDATION=1 but VK_LAYER_KHRONOS_validation is not installed "
          "(package vulkan-validationlayers)");
    }
    layers.push_back(kValidationLayer);
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
  }
  auto app = VkStruct<VkApplicationInfo>(VK_STRUCTURE_TYPE_APPLICATION_INFO);
  app.pApplicationName = "rwkv";
  app.pEngineName = "rwkv-engine";
  app.apiVersion = VK_API_VERSION_1_2;
  auto info = VkStruct<VkInstanceCreateInfo>(VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO);
  info.pApplicationInfo = &app;
  info.enabledLayerCount = static_cast<uint32_t>(layers.size());
  info.ppEnabledLayerNames = layers.data();
  info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  const VkResult r = api.vkCreateInstance(&info, nullptr, instance);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER) {
    return absl::UnavailableError(
        "vulkan: no Vulkan driver on this machine (vkCreateInstance: "
        "VK_ERROR_INCOMPATIBLE_DRIVER)");
  }
  if (r != VK_SUCCESS) {
    return absl::UnavailableError(
        absl::StrCat("vulkan: cannot create an instance (", ResultName(r), ")"));
  }
  LoadInstanceApi(api, *instance);
  if (validation && messenger != nullptr && api.vkCreateDebugUtilsMessengerEXT != nullptr) {
    auto m = VkStruct<VkDebugUtilsMessengerCreateInfoEXT>(
        VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT);
    m.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT |
                        VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT;
    m.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    m.pfnUserCallback = &OnValidationMessage;
    api.vkCreateDebugUtilsMessengerEXT(*instance, &m, nullptr, messenger);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<VkPhysicalDevice>> PhysicalDevices(const Api& api, VkInstance instance) {
  uint32_t count = 0;
  VkResult r = api.vkEnumeratePhysicalDevices(instance, &count, nullptr);
  if (r != VK_SUCCESS) return VkError("vkEnumeratePhysicalDevices", r);
  std::vector<VkPhysicalDevice> devices(count);
  r = api.vkEnumeratePhysicalDevices(instance, &count, devices.data());
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) return VkError("vkEnumeratePhysicalDevices", r);
  devices.resize(count);
  if (devices.empty()) {
    return absl::UnavailableError("vulkan: the driver reports no Vulkan device");
  }
  return devices;
}

PhysicalDeviceInfo Describe(const Api& api, VkPhysicalDevice device, int index) {
  PhysicalDeviceInfo info;
  info.index = index;
  VkPhysicalDeviceProperties props{};
  api.vkGetPhysicalDeviceProperties(device, &props);
  info.name = props.deviceName;
  info.type = TypeName(props.deviceType);
  DeviceFeatures& f = info.features;
  f.api_version = props.apiVersion;
  VkPhysicalDeviceMemoryProperties memory{};
  api.vkGetPhysicalDeviceMemoryProperties(device, &memory);
  for (uint32_t i = 0; i < memory.memoryHeapCount; ++i) {
    if (memory.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) {
      info.device_local_bytes += memory.memoryHeaps[i].size;
    }
  }
  if (props.apiVersion < VK_API_VERSION_1_2) return info;

  auto f13 = VkStruct<VkPhysicalDeviceVulkan13Features>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES);
  auto f12 = VkStruct<VkPhysicalDeviceVulkan12Features>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES);
  auto f11 = VkStruct<VkPhysicalDeviceVulkan11Features>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES);
  auto features = VkStruct<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2);
  features.pNext = &f11;
  f11.pNext = &f12;
  if (props.apiVersion >= VK_API_VERSION_1_3) f12.pNext = &f13;
  api.vkGetPhysicalDeviceFeatures2(device, &features);
  f.buffer_device_address = f12.bufferDeviceAddress;
  f.storage_8bit = f12.storageBuffer8BitAccess;
  f.storage_16bit = f11.storageBuffer16BitAccess;
  f.int64 = features.features.shaderInt64;
  f.int8 = f12.shaderInt8;
  f.fp16 = f12.shaderFloat16;
  f.int_dot_product = props.apiVersion >= VK_API_VERSION_1_3 && f13.shaderIntegerDotProduct;

  auto subgroup = VkStruct<VkPhysicalDeviceSubgroupProperties>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES);
  auto size_control = VkStruct<VkPhysicalDeviceSubgroupSizeControlProperties>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES);
  auto props2 =
      VkStruct<VkPhysicalDeviceProperties2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2);
  props2.pNext = &subgroup;
  if (props.apiVersion >= VK_API_VERSION_1_3) subgroup.pNext = &size_control;
  api.vkGetPhysicalDeviceProperties2(device, &props2);
  f.fixed_subgroup_size = props.apiVersion >= VK_API_VERSION_1_3 &&
                          size_control.minSubgroupSize == size_control.maxSubgroupSize &&
                          size_control.minSubgroupSize == subgroup.subgroupSize;
  f.subgroup_size = subgroup.subgroupSize;
  f.subgroup_arithmetic = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                          (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
  return info;
}

bool ValidationRequested() {
  const char* v = std::getenv("RWKV_VULKAN_VALIDATION");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

int64_t ValidationErrorCount() { return validation_errors.load(); }

std::string DeviceFeatures::MissingRequirement() const {
  if (api_version < VK_API_VERSION_1_2) return "needs Vulkan 1.2";
  if (!buffer_device_address) return "needs bufferDeviceAddress";
  if (!int64) return "needs shaderInt64";
  return "";
}

std::string DeviceFeatures::Summary() const {
  std::vector<std::string> parts;
  parts.push_back(absl::StrCat("vulkan ", VK_API_VERSION_MAJOR(api_version), ".",
                               VK_API_VERSION_MINOR(api_version), ".",
                               VK_API_VERSION_PATCH(api_version)));
  parts.push_back(
      absl::StrCat("subgroup ", subgroup_size, subgroup_arithmetic ? " (arithmetic)" : ""));
  if (fp16) parts.push_back("fp16");
  if (int8) parts.push_back("int8");
  if (int_dot_product) parts.push_back("int-dot");
  if (storage_16bit) parts.push_back("16-bit storage");
  if (storage_8bit) parts.push_back("8-bit storage");
  return absl::StrJoin(parts, ", ");
}

uint32_t DeviceFeatures::MatMulSubgroupSize() const {
  const char* env = std::getenv("RWKV_VULKAN_SUBGROUPS");
  if (env != nullptr && std::strcmp(env, "0") == 0) return 0;
  const uint32_t s = subgroup_size;
  const bool power_of_two = s != 0 && (s & (s - 1)) == 0;
  return subgroup_arithmetic && fixed_subgroup_size && power_of_two && s >= 4 && s <= 64 ? s : 0;
}

std::string DeviceFeatures::KernelFeatures() const {
  std::string out = "f32 arithmetic, buffer device addresses";
  if (const uint32_t s = MatMulSubgroupSize(); s != 0) {
    absl::StrAppend(&out, ", subgroup reductions (", s, " lanes)");
  } else {
    absl::StrAppend(&out, ", shared-memory reductions");
  }
  return out;
}

absl::StatusOr<std::vector<PhysicalDeviceInfo>> ListPhysicalDevices() {
  Api api;
  VkInstance instance = VK_NULL_HANDLE;
  if (absl::Status s = CreateInstance(api, &instance, nullptr); !s.ok()) return s;
  absl::StatusOr<std::vector<VkPhysicalDevice>> devices = PhysicalDevices(api, instance);
  std::vector<PhysicalDeviceInfo> out;
  if (devices.ok()) {
    for (size_t i = 0; i < devices->size(); ++i) {
      out.push_back(Describe(api, (*devices)[i], static_cast<int>(i)));
    }
  }
  api.vkDestroyInstance(instance, nullptr);
  if (!devices.ok()) return devices.status();
  return out;
}

}  // namespace rwkv::engine::vulkan
