#include "backend/vulkan/vulkan_context.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "backend/vulkan/shader_code.h"

namespace rwkv::engine::vulkan {
namespace {

// Transfers larger than this go through the staging buffer in pieces.
constexpr uint64_t kStagingBytes = 16ull << 20;

}  // namespace

absl::StatusOr<std::shared_ptr<Context>> Context::Create(int index) {
  std::shared_ptr<Context> context(new Context());
  if (absl::Status s = context->Init(index); !s.ok()) return s;
  return context;
}

absl::Status Context::Init(int index) {
  if (absl::Status s = CreateInstance(api_, &instance_, &messenger_); !s.ok()) return s;
  absl::StatusOr<std::vector<VkPhysicalDevice>> devices = PhysicalDevices(api_, instance_);
  if (!devices.ok()) return devices.status();
  if (index < 0 || index >= static_cast<int>(devices->size())) {
    return absl::InvalidArgumentError(absl::StrCat("vulkan: no device ", index,
                                                   " (this machine has ", devices->size(),
                                                   "; see `rwkv devices`)"));
  }
  physical_ = (*devices)[index];
  info_ = Describe(api_, physical_, index);
  if (std::string missing = info_.features.MissingRequirement(); !missing.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("vulkan: device ", index, " (", info_.name, ") ", missing));
  }
  api_.vkGetPhysicalDeviceMemoryProperties(physical_, &memory_);

  uint32_t family_count = 0;
  api_.vkGetPhysicalDeviceQueueFamilyProperties(physical_, &family_count, nullptr);
  std::vector<VkQueueFamilyProperties> families(family_count);
  api_.vkGetPhysicalDeviceQueueFamilyProperties(physical_, &family_count, families.data());
  bool found = false;
  for (uint32_t i = 0; i < family_count && !found; ++i) {
    if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      queue_family_ = i;
      found = true;
    }
  }
  if (!found) return absl::FailedPreconditionError("vulkan: the device has no compute queue");

  const float priority = 1.0f;
  auto queue = VkStruct<VkDeviceQueueCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO);
  queue.queueFamilyIndex = queue_family_;
  queue.queueCount = 1;
  queue.pQueuePriorities = &priority;
  auto f12 = VkStruct<VkPhysicalDeviceVulkan12Features>(
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES);
  f12.bufferDeviceAddress = VK_TRUE;
  auto features = VkStruct<VkPhysicalDeviceFeatures2>(VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2);
  features.features.shaderInt64 = VK_TRUE;
  features.pNext = &f12;
  auto info = VkStruct<VkDeviceCreateInfo>(VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO);
  info.pNext = &features;
  info.queueCreateInfoCount = 1;
  info.pQueueCreateInfos = &queue;
  VkResult r = api_.vkCreateDevice(physical_, &info, nullptr, &device_);
  if (r != VK_SUCCESS) return VkError("vkCreateDevice", r);
  api_.vkGetDeviceQueue(device_, queue_family_, 0, &queue_);

  VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushConstantBytes};
  auto layout = VkStruct<VkPipelineLayoutCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO);
  layout.pushConstantRangeCount = 1;
  layout.pPushConstantRanges = &range;
  r = api_.vkCreatePipelineLayout(device_, &layout, nullptr, &pipeline_layout_);
  if (r != VK_SUCCESS) return VkError("vkCreatePipelineLayout", r);

  auto pool = VkStruct<VkCommandPoolCreateInfo>(VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO);
  pool.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pool.queueFamilyIndex = queue_family_;
  r = api_.vkCreateCommandPool(device_, &pool, nullptr, &transfer_pool_);
  if (r != VK_SUCCESS) return VkError("vkCreateCommandPool", r);
  auto alloc =
      VkStruct<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
  alloc.commandPool = transfer_pool_;
  alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  alloc.commandBufferCount = 1;
  r = api_.vkAllocateCommandBuffers(device_, &alloc, &transfer_commands_);
  if (r != VK_SUCCESS) return VkError("vkAllocateCommandBuffers", r);
  auto fence = VkStruct<VkFenceCreateInfo>(VK_STRUCTURE_TYPE_FENCE_CREATE_INFO);
  r = api_.vkCreateFence(device_, &fence, nullptr, &transfer_fence_);
  if (r != VK_SUCCESS) return VkError("vkCreateFence", r);
  return absl::OkStatus();
}

Context::~Context() {
  if (device_ != VK_NULL_HANDLE) {
    DestroyBuffer(staging_);
    for (auto& [name, pipeline] : pipelines_) api_.vkDestroyPipeline(device_, pipeline, nullptr);
    if (transfer_fence_ != VK_NULL_HANDLE) api_.vkDestroyFence(device_, transfer_fence_, nullptr);
    if (transfer_pool_ != VK_NULL_HANDLE) {
      api_.vkDestroyCommandPool(device_, transfer_pool_, nullptr);
    }
    if (pipeline_layout_ != VK_NULL_HANDLE) {
      api_.vkDestroyPipelineLayout(device_, pipeline_layout_, nullptr);
    }
    api_.vkDestroyDevice(device_, nullptr);
  }
  if (instance_ != VK_NULL_HANDLE) {
    if (messenger_ != VK_NULL_HANDLE) {
      api_.vkDestroyDebugUtilsMessengerEXT(instance_, messenger_, nullptr);
    }
    api_.vkDestroyInstance(instance_, nullptr);
  }
}

absl::StatusOr<DeviceBuffer> Context::CreateBuffer(uint64_t bytes, MemoryUse use) {
  DeviceBuffer b;
  // Whole 256-byte units: shaders read bytes through aligned 32-bit words.
  b.size = std::max<uint64_t>(256, (bytes + 255) / 256 * 256);
  auto info = VkStruct<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
  info.size = b.size;
  info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
               VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkResult r = api_.vkCreateBuffer(device_, &info, nullptr, &b.buffer);
  if (r != VK_SUCCESS) return VkError("vkCreateBuffer", r);
  VkMemoryRequirements req{};
  api_.vkGetBufferMemoryRequirements(device_, b.buffer, &req);

  VkMemoryPropertyFlags required = 0, preferred = 0;
  switch (use) {
    case MemoryUse::kDevice:
      preferred = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
      break;
    case MemoryUse::kUpload:
      required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
      break;
    case MemoryUse::kReadback:
      required = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
      preferred = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
      break;
  }
  int chosen = -1;
  for (int pass = 0; pass < 2 && chosen < 0; ++pass) {
    const VkMemoryPropertyFlags want = pass == 0 ? (required | preferred) : required;
    for (uint32_t i = 0; i < memory_.memoryTypeCount; ++i) {
      if ((req.memoryTypeBits & (1u << i)) &&
          (memory_.memoryTypes[i].propertyFlags & want) == want) {
        chosen = static_cast<int>(i);
        break;
      }
    }
  }
  if (chosen < 0) {
    api_.vkDestroyBuffer(device_, b.buffer, nullptr);
    return absl::ResourceExhaustedError("vulkan: no memory type fits the buffer");
  }
  auto flags = VkStruct<VkMemoryAllocateFlagsInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO);
  flags.flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT;
  auto alloc = VkStruct<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
  alloc.pNext = &flags;
  alloc.allocationSize = req.size;
  alloc.memoryTypeIndex = static_cast<uint32_t>(chosen);
  r = api_.vkAllocateMemory(device_, &alloc, nullptr, &b.memory);
  if (r != VK_SUCCESS) {
    api_.vkDestroyBuffer(device_, b.buffer, nullptr);
    return absl::ResourceExhaustedError(
        absl::StrCat("vulkan: cannot allocate ", bytes, " bytes (", ResultName(r), ")"));
  }
  r = api_.vkBindBufferMemory(device_, b.buffer, b.memory, 0);
  if (r == VK_SUCCESS && use != MemoryUse::kDevice) {
    void* mapped = nullptr;
    r = api_.vkMapMemory(device_, b.memory, 0, VK_WHOLE_SIZE, 0, &mapped);
    b.mapped = static_cast<uint8_t*>(mapped);
  }
  if (r != VK_SUCCESS) {
    DestroyBuffer(b);
    return VkError("binding buffer memory", r);
  }
  auto address = VkStruct<VkBufferDeviceAddressInfo>(VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO);
  address.buffer = b.buffer;
  b.address = api_.vkGetBufferDeviceAddress(device_, &address);
  return b;
}

void Context::DestroyBuffer(DeviceBuffer& b) {
  if (b.buffer != VK_NULL_HANDLE) api_.vkDestroyBuffer(device_, b.buffer, nullptr);
  if (b.memory != VK_NULL_HANDLE) api_.vkFreeMemory(device_, b.memory, nullptr);
  b = DeviceBuffer{};
}

absl::StatusOr<VkPipeline> Context::Pipeline(std::string_view name) {
  std::lock_guard<std::mutex> lock(pipelines_mu_);
  if (auto it = pipelines_.find(std::string(name)); it != pipelines_.end()) return it->second;
  std::span<const uint32_t> code = ShaderCode(name);
  if (code.empty()) {
    return absl::InternalError(absl::StrCat("vulkan: no shader named ", std::string(name)));
  }
  auto module_info =
      VkStruct<VkShaderModuleCreateInfo>(VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO);
  module_info.codeSize = code.size() * sizeof(uint32_t);
  module_info.pCode = code.data();
  VkShaderModule module = VK_NULL_HANDLE;
  VkResult r = api_.vkCreateShaderModule(device_, &module_info, nullptr, &module);
  if (r != VK_SUCCESS) return VkError("vkCreateShaderModule", r);
  auto info = VkStruct<VkComputePipelineCreateInfo>(VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO);
  info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  info.stage.module = module;
  info.stage.pName = "main";
  info.layout = pipeline_layout_;
  VkPipeline pipeline = VK_NULL_HANDLE;
  r = api_.vkCreateComputePipelines(device_, VK_NULL_HANDLE, 1, &info, nullptr, &pipeline);
  api_.vkDestroyShaderModule(device_, module, nullptr);
  if (r != VK_SUCCESS) return VkError(absl::StrCat("creating pipeline ", std::string(name)), r);
  pipelines_.emplace(std::string(name), pipeline);
  return pipeline;
}

absl::Status Context::SubmitAndWait(VkCommandBuffer commands, VkFence fence) {
  auto submit = VkStruct<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
  submit.commandBufferCount = 1;
  submit.pCommandBuffers = &commands;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    const VkResult r = api_.vkQueueSubmit(queue_, 1, &submit, fence);
    if (r != VK_SUCCESS) return VkError("vkQueueSubmit", r);
  }
  VkResult r = api_.vkWaitForFences(device_, 1, &fence, VK_TRUE, UINT64_MAX);
  if (r != VK_SUCCESS) return VkError("vkWaitForFences", r);
  r = api_.vkResetFences(device_, 1, &fence);
  if (r != VK_SUCCESS) return VkError("vkResetFences", r);
  return absl::OkStatus();
}

template <typename Record>
absl::Status Context::OneShot(Record record) {
  VkResult r = api_.vkResetCommandBuffer(transfer_commands_, 0);
  if (r != VK_SUCCESS) return VkError("vkResetCommandBuffer", r);
  auto begin = VkStruct<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  r = api_.vkBeginCommandBuffer(transfer_commands_, &begin);
  if (r != VK_SUCCESS) return VkError("vkBeginCommandBuffer", r);
  record(transfer_commands_);
  auto barrier = VkStruct<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  api_.vkCmdPipelineBarrier(transfer_commands_, VK_PIPELINE_STAGE_TRANSFER_BIT,
                            VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &barrier, 0, nullptr, 0, nullptr);
  r = api_.vkEndCommandBuffer(transfer_commands_);
  if (r != VK_SUCCESS) return VkError("vkEndCommandBuffer", r);
  return SubmitAndWait(transfer_commands_, transfer_fence_);
}

absl::Status Context::Upload(const DeviceBuffer& dst, uint64_t offset,
                             std::span<const uint8_t> bytes) {
  if (offset + bytes.size() > dst.size) return absl::OutOfRangeError("vulkan: upload past end");
  std::lock_guard<std::mutex> lock(transfer_mu_);
  if (staging_.buffer == VK_NULL_HANDLE) {
    absl::StatusOr<DeviceBuffer> s = CreateBuffer(kStagingBytes, MemoryUse::kUpload);
    if (!s.ok()) return s.status();
    staging_ = *s;
  }
  for (uint64_t done = 0; done < bytes.size(); done += kStagingBytes) {
    const uint64_t n = std::min<uint64_t>(kStagingBytes, bytes.size() - done);
    std::memcpy(staging_.mapped, bytes.data() + done, n);
    absl::Status s = OneShot([&](VkCommandBuffer cb) {
      VkBufferCopy region{0, offset + done, n};
      api_.vkCmdCopyBuffer(cb, staging_.buffer, dst.buffer, 1, &region);
    });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Context::Download(const DeviceBuffer& src, uint64_t offset, std::span<uint8_t> bytes) {
  if (offset + bytes.size() > src.size) return absl::OutOfRangeError("vulkan: download past end");
  std::lock_guard<std::mutex> lock(transfer_mu_);
  if (staging_.buffer == VK_NULL_HANDLE) {
    absl::StatusOr<DeviceBuffer> s = CreateBuffer(kStagingBytes, MemoryUse::kUpload);
    if (!s.ok()) return s.status();
    staging_ = *s;
  }
  for (uint64_t done = 0; done < bytes.size(); done += kStagingBytes) {
    const uint64_t n = std::min<uint64_t>(kStagingBytes, bytes.size() - done);
    absl::Status s = OneShot([&](VkCommandBuffer cb) {
      VkBufferCopy region{offset + done, 0, n};
      api_.vkCmdCopyBuffer(cb, src.buffer, staging_.buffer, 1, &region);
    });
    if (!s.ok()) return s;
    std::memcpy(bytes.data() + done, staging_.mapped, n);
  }
  return absl::OkStatus();
}

absl::Status Context::Fill(const DeviceBuffer& dst, uint32_t value) {
  std::lock_guard<std::mutex> lock(transfer_mu_);
  return OneShot(
      [&](VkCommandBuffer cb) { api_.vkCmdFillBuffer(cb, dst.buffer, 0, VK_WHOLE_SIZE, value); });
}

}  // namespace rwkv::engine::vulkan
