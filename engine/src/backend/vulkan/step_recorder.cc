#include "backend/vulkan/step_recorder.h"

#include <algorithm>
#include <cstring>

namespace rwkv::engine::vulkan {
namespace {

// Command buffers kept per stream: a worker alternates between a few step shapes (decode of
// n sequences, prompt chunks), and a command buffer costs little.
constexpr size_t kKeptSteps = 8;

}  // namespace

absl::Status StepRecorder::Init() {
  const Api& api = context_.api();
  auto pool = VkStruct<VkCommandPoolCreateInfo>(VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO);
  pool.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pool.queueFamilyIndex = context_.queue_family();
  if (api.vkCreateCommandPool(context_.device(), &pool, nullptr, &pool_) != VK_SUCCESS) {
    return absl::InternalError("vulkan: cannot create a command pool");
  }
  auto fence = VkStruct<VkFenceCreateInfo>(VK_STRUCTURE_TYPE_FENCE_CREATE_INFO);
  if (api.vkCreateFence(context_.device(), &fence, nullptr, &fence_) != VK_SUCCESS) {
    return absl::InternalError("vulkan: cannot create a fence");
  }
  return absl::OkStatus();
}

StepRecorder::~StepRecorder() {
  const Api& api = context_.api();
  if (fence_ != VK_NULL_HANDLE) api.vkDestroyFence(context_.device(), fence_, nullptr);
  // Destroying the pool frees its command buffers.
  if (pool_ != VK_NULL_HANDLE) api.vkDestroyCommandPool(context_.device(), pool_, nullptr);
}

void StepRecorder::Dispatch(VkPipeline pipeline, const void* params, uint32_t bytes, uint32_t gx,
                            uint32_t gy, uint32_t gz) {
  Command c;
  c.kind = Command::Kind::kDispatch;
  c.pipeline = pipeline;
  c.groups = {gx, gy, gz};
  c.param_bytes = std::min<uint32_t>(bytes, kPushConstantBytes);
  std::memcpy(c.params.data(), params, c.param_bytes);
  pending_.push_back(c);
}

void StepRecorder::Copy(VkBuffer src, VkBuffer dst, uint64_t bytes) {
  Command c;
  c.kind = Command::Kind::kCopy;
  c.src = src;
  c.dst = dst;
  c.bytes = bytes;
  pending_.push_back(c);
}

absl::Status StepRecorder::Record(const std::vector<Command>& commands, VkCommandBuffer buffer) {
  const Api& api = context_.api();
  if (api.vkResetCommandBuffer(buffer, 0) != VK_SUCCESS) {
    return absl::InternalError("vulkan: cannot reset a command buffer");
  }
  auto begin = VkStruct<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  if (api.vkBeginCommandBuffer(buffer, &begin) != VK_SUCCESS) {
    return absl::InternalError("vulkan: cannot begin a command buffer");
  }
  auto barrier = VkStruct<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                          VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  const VkPipelineStageFlags stages =
      VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  for (const Command& c : commands) {
    if (c.kind == Command::Kind::kDispatch) {
      api.vkCmdBindPipeline(buffer, VK_PIPELINE_BIND_POINT_COMPUTE, c.pipeline);
      api.vkCmdPushConstants(buffer, context_.pipeline_layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0,
                             c.param_bytes, c.params.data());
      api.vkCmdDispatch(buffer, c.groups[0], c.groups[1], c.groups[2]);
    } else {
      const VkBufferCopy region{0, 0, c.bytes};
      api.vkCmdCopyBuffer(buffer, c.src, c.dst, 1, &region);
    }
    api.vkCmdPipelineBarrier(buffer, stages, stages, 0, 1, &barrier, 0, nullptr, 0, nullptr);
  }
  // Results the host reads (logits, states) are visible once the fence signals.
  auto to_host = VkStruct<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  to_host.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  to_host.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  api.vkCmdPipelineBarrier(buffer, stages, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &to_host, 0, nullptr,
                           0, nullptr);
  if (api.vkEndCommandBuffer(buffer) != VK_SUCCESS) {
    return absl::InternalError("vulkan: cannot end a command buffer");
  }
  return absl::OkStatus();
}

absl::Status StepRecorder::SubmitAndWait() {
  if (pending_.empty()) return absl::OkStatus();
  std::vector<Command> commands;
  commands.swap(pending_);
  ++clock_;
  auto same = std::find_if(kept_.begin(), kept_.end(),
                           [&](const Kept& k) { return k.commands == commands; });
  if (same != kept_.end()) {
    ++reused_;
    same->last_used = clock_;
    return context_.SubmitAndWait(same->buffer, fence_);
  }
  Kept* slot = nullptr;
  if (kept_.size() < kKeptSteps) {
    auto alloc =
        VkStruct<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
    alloc.commandPool = pool_;
    alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    alloc.commandBufferCount = 1;
    VkCommandBuffer buffer = VK_NULL_HANDLE;
    if (context_.api().vkAllocateCommandBuffers(context_.device(), &alloc, &buffer) != VK_SUCCESS) {
      return absl::InternalError("vulkan: cannot allocate a command buffer");
    }
    kept_.push_back(Kept{{}, buffer, 0});
    slot = &kept_.back();
  } else {
    slot = &*std::min_element(kept_.begin(), kept_.end(), [](const Kept& a, const Kept& b) {
      return a.last_used < b.last_used;
    });
  }
  slot->commands.clear();  // not reusable until recorded successfully
  ++recorded_;
  if (absl::Status s = Record(commands, slot->buffer); !s.ok()) return s;
  slot->commands = std::move(commands);
  slot->last_used = clock_;
  return context_.SubmitAndWait(slot->buffer, fence_);
}

void StepRecorder::Forget() {
  for (Kept& k : kept_) k.commands.clear();
}

}  // namespace rwkv::engine::vulkan
