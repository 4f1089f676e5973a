// Opening the Vulkan device in tests: the validation layer is switched on (where installed)
// before the first device is created, and a test skips with the reason when this build or
// machine has no usable Vulkan device.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "backend/backend.h"
#if defined(RWKV_WITH_VULKAN)
#include "backend/vulkan/vulkan_instance.h"
#endif

namespace rwkv::testing {

// Sets RWKV_VULKAN_VALIDATION=1 for this process and its children unless the caller chose
// otherwise; a no-op without the Vulkan backend.
inline void RequestVulkanValidation() { setenv("RWKV_VULKAN_VALIDATION", "1", 0); }

// Errors the validation layer reported in this process (0 without the backend).
inline int64_t VulkanValidationErrors() {
#if defined(RWKV_WITH_VULKAN)
  return engine::vulkan::ValidationErrorCount();
#else
  return 0;
#endif
}

// The device, or the reason to skip in `skip_reason`.
inline std::unique_ptr<engine::backend::Device> OpenVulkanForTest(std::string* skip_reason) {
  RequestVulkanValidation();
  absl::StatusOr<std::unique_ptr<engine::backend::Device>> device =
      engine::backend::CreateDevice("vulkan", engine::backend::DeviceOptions{});
  if (!device.ok() && absl::IsFailedPrecondition(device.status()) &&
      device.status().message().find("validation") != std::string::npos) {
    // The layer is not installed here: test the kernels without it rather than not at all.
    fprintf(stderr, "%s; running without it\n", std::string(device.status().message()).c_str());
    setenv("RWKV_VULKAN_VALIDATION", "0", 1);
    device = engine::backend::CreateDevice("vulkan", engine::backend::DeviceOptions{});
  }
  if (!device.ok()) {
    *skip_reason = "no usable Vulkan device: " + std::string(device.status().message());
    return nullptr;
  }
  return std::move(*device);
}

}  // namespace rwkv::testing
