// The commands of one step (dispatches, buffer copies, each followed by a memory barrier),
// collected as values and turned into a command buffer at submission. A step identical to one
// submitted before (same pipelines, push constants, group counts and copies: the same step shape
// on the same buffers) reuses that step's command buffer instead of recording it again.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "backend/vulkan/vulkan_context.h"

namespace rwkv::engine::vulkan {

class StepRecorder {
 public:
  explicit StepRecorder(Context& context) : context_(context) {}
  ~StepRecorder();
  StepRecorder(const StepRecorder&) = delete;
  StepRecorder& operator=(const StepRecorder&) = delete;

  absl::Status Init();

  void Dispatch(VkPipeline pipeline, const void* params, uint32_t bytes, uint32_t gx, uint32_t gy,
                uint32_t gz);
  void Copy(VkBuffer src, VkBuffer dst, uint64_t bytes);
  bool empty() const { return pending_.empty(); }
  // Runs the pending commands and waits for them; nothing to do when there are none.
  absl::Status SubmitAndWait();
  // Drops every kept command buffer (a buffer they copy between is about to be destroyed).
  void Forget();

  // Steps served from a kept command buffer, and steps recorded (for tests and benchmarks).
  int64_t reused() const { return reused_; }
  int64_t recorded() const { return recorded_; }

 private:
  struct Command {
    enum class Kind : uint8_t { kDispatch, kCopy } kind = Kind::kDispatch;
    VkPipeline pipeline = VK_NULL_HANDLE;
    std::array<uint32_t, 3> groups{};
    uint32_t param_bytes = 0;
    std::array<uint8_t, kPushConstantBytes> params{};
    VkBuffer src = VK_NULL_HANDLE;
    VkBuffer dst = VK_NULL_HANDLE;
    uint64_t bytes = 0;
    bool operator==(const Command&) const = default;
  };
  struct Kept {
    std::vector<Command> commands;
    VkCommandBuffer buffer = VK_NULL_HANDLE;
    uint64_t last_used = 0;
  };
  absl::Status Record(const std::vector<Command>& commands, VkCommandBuffer buffer);

  Context& context_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  std::vector<Command> pending_;
  std::vector<Kept> kept_;
  uint64_t clock_ = 0;
  int64_t reused_ = 0;
  int64_t recorded_ = 0;
};

}  // namespace rwkv::engine::vulkan
