#include "services/cli/devices_vulkan.h"

#include <cstdio>
#include <string>
#include <vector>

#if defined(RWKV_WITH_VULKAN)
#include "backend/vulkan/vulkan_device.h"
#endif

namespace rwkv::cli {

int PrintVulkanDevices() {
#if defined(RWKV_WITH_VULKAN)
  absl::StatusOr<std::vector<std::string>> lines = engine::vulkan::DescribeVulkanDevices();
  if (!lines.ok()) {
    std::printf("%s\n", std::string(lines.status().message()).c_str());
    return 0;
  }
  for (const std::string& line : *lines) std::printf("%s\n", line.c_str());
  return static_cast<int>(lines->size());
#else
  std::printf("vulkan: not compiled into this build (RWKV_VULKAN=OFF)\n");
  return 0;
#endif
}

}  // namespace rwkv::cli
