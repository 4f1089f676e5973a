// The Vulkan implementation of backend::Stream. Ops are collected by a StepRecorder, each a
// compute dispatch followed by a memory barrier; Synchronize (and UnbindStates) submits them as
// one command buffer (reused for a step identical to a recent one) and waits. Host inputs (token
// ids, row indices, the step layout) are written into a host-visible arena the shaders read by
// address; ReadRows copies into a host-visible readback arena that is copied out to the caller's
// memory once the submission completes.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "backend/vulkan/step_recorder.h"
#include "backend/vulkan/vulkan_context.h"

namespace rwkv::engine::vulkan {

// A growing set of host-visible buffers handed out linearly and reset after each submission.
class HostArena {
 public:
  HostArena(Context& context, MemoryUse use) : context_(context), use_(use) {}
  ~HostArena();
  HostArena(const HostArena&) = delete;
  HostArena& operator=(const HostArena&) = delete;

  struct Slice {
    uint8_t* host = nullptr;
    uint64_t address = 0;
  };
  absl::StatusOr<Slice> Allocate(uint64_t bytes);
  // Forgets every slice; called when no submission that reads them is pending.
  void Reset();

 private:
  Context& context_;
  MemoryUse use_;
  std::vector<DeviceBuffer> chunks_;
  uint64_t used_ = 0;  // in the last chunk
};

class VulkanStream final : public backend::Stream {
 public:
  // A stream whose resources cannot be created reports that from every Synchronize.
  explicit VulkanStream(std::shared_ptr<Context> context);
  ~VulkanStream() override;

  absl::Status BindStates(std::span<RecurrentState* const> states,
                          const backend::StepLayout& layout) override;
  absl::Status UnbindStates() override;
  void Embed(const backend::WeightView& table, std::span<const int32_t> tokens,
             backend::Tensor out) override;
  void LayerNorm(backend::Tensor x, const backend::WeightView& w, const backend::WeightView& b,
                 float eps, backend::Tensor out) override;
  void GroupNormMul(backend::Tensor y, int64_t group, const backend::WeightView& w,
                    const backend::WeightView& b, float eps, backend::Tensor gate) override;
  void ShiftDelta(int layer, int slot, backend::Tensor cur, backend::Tensor delta) override;
  void Lerp(backend::Tensor base, backend::Tensor delta, const backend::WeightView& mix,
            const backend::Tensor* extra, backend::Tensor out) override;
  void MatMul(const backend::WeightView& w, backend::Tensor x, backend::Tensor y,
              backend::Epilogue epilogue, bool accumulate) override;
  void Decay(backend::Tensor x, const backend::WeightView& time_decay) override;
  void Wkv6(int layer, int64_t head_size, backend::Tensor r, backend::Tensor k, backend::Tensor v,
            backend::Tensor w, const backend::WeightView& u, backend::Tensor y) override;
  void MulAdd(backend::Tensor acc, backend::Tensor a, backend::Tensor b) override;
  void Scale(backend::Tensor x, float s) override;
  void GatherRows(backend::Tensor src, std::span<const int64_t> rows, backend::Tensor dst) override;
  void ReadRows(backend::Tensor src, int64_t row, int64_t count, float* host) override;
  absl::Status Synchronize() override;

  // Steps recorded and steps that reused a kept command buffer.
  const StepRecorder& recorder() const { return recorder_; }

 private:
  absl::Status Init();

  void Fail(absl::Status status);
  bool CheckLayer(int layer);
  // Records one dispatch of shader `name` with `params` as push constants, then a barrier.
  template <typename Params>
  void Dispatch(std::string_view name, const Params& params, uint32_t gx, uint32_t gy,
                uint32_t gz = 1);
  // Copies `bytes` into the upload arena; 0 on failure (recorded).
  uint64_t UploadArray(const void* data, uint64_t bytes);

  std::shared_ptr<Context> context_;
  HostArena upload_;
  HostArena readback_;
  StepRecorder recorder_;
  struct PendingRead {
    const uint8_t* from;
    float* to;
    uint64_t bytes;
  };
  std::vector<PendingRead> reads_;

  // Bound states: sequence s at state_ + s·seq_floats floats: the shift vectors of every
  // layer, then the wkv states of every layer, as RecurrentState lays them out.
  std::vector<RecurrentState*> states_;
  backend::StepLayout layout_;
  StateShape shape_;
  uint64_t seq_floats_ = 0;
  DeviceBuffer state_;
  DeviceBuffer state_staging_;
  uint64_t seq_begin_ = 0;   // device address of the int32 layout
  uint64_t row_seq_ = 0;     // device address of each row's sequence (int32)
  uint32_t subgroup_lanes_;  // matrix-product lanes per row when using subgroups, else 0
  absl::Status init_status_;
  absl::Status status_;
};

}  // namespace rwkv::engine::vulkan
