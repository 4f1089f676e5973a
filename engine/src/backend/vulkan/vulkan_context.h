// One Vulkan logical device and what every part of the backend shares on it: the queue, memory
// allocation with buffer device addresses, the embedded compute pipelines (created on first
// use, once), and one-shot transfers through a staging buffer.
//
// Operands reach the shaders as buffer device addresses (Vulkan 1.2 bufferDeviceAddress), so a
// Tensor's data pointer is the device address itself and the model's offset arithmetic
// (Tensor::Cols, WeightView::Rows) works unchanged.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "backend/vulkan/vk_api.h"
#include "backend/vulkan/vulkan_instance.h"

namespace rwkv::engine::vulkan {

// A device buffer bound to its own memory, with its device address; `mapped` is set for
// host-visible buffers.
struct DeviceBuffer {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  uint64_t size = 0;
  uint64_t address = 0;
  uint8_t* mapped = nullptr;
};

enum class MemoryUse {
  kDevice,    // device-local; filled by transfers and shaders
  kUpload,    // host-visible, coherent: written by the host, read by shaders
  kReadback,  // host-visible, coherent (cached where possible): written by shaders
};

class Context {
 public:
  // Opens device `index` of ListPhysicalDevices().
  static absl::StatusOr<std::shared_ptr<Context>> Create(int index);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const Api& api() const { return api_; }
  VkDevice device() const { return device_; }
  uint32_t queue_family() const { return queue_family_; }
  const PhysicalDeviceInfo& info() const { return info_; }
  VkPipelineLayout pipeline_layout() const { return pipeline_layout_; }

  absl::StatusOr<DeviceBuffer> CreateBuffer(uint64_t bytes, MemoryUse use);
  void DestroyBuffer(DeviceBuffer& buffer);

  // The compute pipeline of embedded shader `name`, created on first use.
  absl::StatusOr<VkPipeline> Pipeline(std::string_view name);

  // Submits one recorded command buffer and waits for it (the queue is shared by streams).
  absl::Status SubmitAndWait(VkCommandBuffer commands, VkFence fence);

  // Synchronous transfers between host memory and a device buffer.
  absl::Status Upload(const DeviceBuffer& dst, uint64_t offset, std::span<const uint8_t> bytes);
  absl::Status Download(const DeviceBuffer& src, uint64_t offset, std::span<uint8_t> bytes);
  absl::Status Fill(const DeviceBuffer& dst, uint32_t value);

 private:
  Context() = default;
  absl::Status Init(int index);
  // Runs `record` on a one-shot command buffer and waits (transfer_mu_ held).
  template <typename Record>
  absl::Status OneShot(Record record);

  Api api_;
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkPhysicalDeviceMemoryProperties memory_{};
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  PhysicalDeviceInfo info_;
  VkPipelineLayout pipeline_layout_ = VK_NULL_HANDLE;

  std::mutex queue_mu_;
  std::mutex pipelines_mu_;
  std::unordered_map<std::string, VkPipeline> pipelines_;

  std::mutex transfer_mu_;
  VkCommandPool transfer_pool_ = VK_NULL_HANDLE;
  VkCommandBuffer transfer_commands_ = VK_NULL_HANDLE;
  VkFence transfer_fence_ = VK_NULL_HANDLE;
  DeviceBuffer staging_;
};

// Push constants are at most this many bytes (the minimum every device supports).
inline constexpr uint32_t kPushConstantBytes = 128;

}  // namespace rwkv::engine::vulkan
