// The CPU implementation of backend::Stream: ops run synchronously on the thread pool.
#pragma once

#include <vector>

#include "backend/backend.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/thread_pool.h"

namespace rwkv::engine::cpu {

class CpuStream final : public backend::Stream {
 public:
  CpuStream(ThreadPool& pool, const KernelTable& kernels, Precision precision)
      : pool_(pool), kernels_(kernels), precision_(precision) {}

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

 private:
  void Fail(absl::Status status);
  bool CheckLayer(int layer);
  // Runs fn(row_begin, row_end) over the rows of a step, in parallel.
  void ForRows(int64_t rows, int64_t cost_per_row, const std::function<void(int64_t, int64_t)>& fn);

  ThreadPool& pool_;
  const KernelTable& kernels_;
  Precision precision_;
  MatMulScratch matmul_scratch_;
  std::vector<RecurrentState*> states_;
  backend::StepLayout layout_;
  StateShape shape_;
  absl::Status status_;
};

}  // namespace rwkv::engine::cpu
