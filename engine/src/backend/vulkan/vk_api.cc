#include "backend/vulkan/vk_api.h"

#include <dlfcn.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace rwkv::engine::vulkan {

absl::Status LoadGlobalApi(Api& api) {
  static void* const library = [] {
    void* handle = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) handle = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL);
    return handle;
  }();
  if (library == nullptr) {
    return absl::UnavailableError(
        "vulkan: no Vulkan loader (libvulkan.so.1) on this machine; install libvulkan1 and a "
        "driver");
  }
  api.vkGetInstanceProcAddr =
      reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(library, "vkGetInstanceProcAddr"));
  if (api.vkGetInstanceProcAddr == nullptr) {
    return absl::UnavailableError("vulkan: the loader lacks vkGetInstanceProcAddr");
  }
#define RWKV_VK_LOAD(name) \
  api.name = reinterpret_cast<PFN_##name>(api.vkGetInstanceProcAddr(nullptr, #name));
  RWKV_VK_GLOBAL_FUNCTIONS(RWKV_VK_LOAD)
#undef RWKV_VK_LOAD
  if (api.vkCreateInstance == nullptr) {
    return absl::UnavailableError("vulkan: the loader lacks vkCreateInstance");
  }
  return absl::OkStatus();
}

void LoadInstanceApi(Api& api, VkInstance instance) {
#define RWKV_VK_LOAD(name) \
  api.name = reinterpret_cast<PFN_##name>(api.vkGetInstanceProcAddr(instance, #name));
  RWKV_VK_INSTANCE_FUNCTIONS(RWKV_VK_LOAD)
  RWKV_VK_DEVICE_FUNCTIONS(RWKV_VK_LOAD)
#undef RWKV_VK_LOAD
}

const char* ResultName(VkResult result) {
  switch (result) {
    case VK_SUCCESS:
      return "VK_SUCCESS";
    case VK_ERROR_OUT_OF_HOST_MEMORY:
      return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
      return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED:
      return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST:
      return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_LAYER_NOT_PRESENT:
      return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT:
      return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT:
      return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER:
      return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS:
      return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_TIMEOUT:
      return "VK_TIMEOUT";
    default:
      return "VkResult error";
  }
}

absl::Status VkError(std::string_view what, VkResult result) {
  return absl::InternalError(
      absl::StrCat("vulkan: ", std::string(what), " failed (", ResultName(result), ")"));
}

}  // namespace rwkv::engine::vulkan
