// The CUDA implementation of backend::Stream. Ops are enqueued on one CUDA stream and run
// asynchronously; BindStates uploads the bound states into a device arena (and the tables that
// map rows to sequences), UnbindStates downloads them back into the host states.
#pragma once

#include <vector>

#include <cuda_runtime.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/staging.h"

namespace rwkv::engine::cuda {

class CudaStream final : public backend::Stream {
 public:
  explicit CudaStream(int device);
  ~CudaStream() override;

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
  // Records a launch error of the op just enqueued.
  void CheckLaunch(const char* op);
  bool CheckLayer(int layer);
  // Makes room in the staging arenas, synchronizing first when they are full.
  bool Stage(uint64_t upload_bytes, uint64_t download_bytes);
  absl::Status Drain();

  int device_;
  cudaStream_t stream_ = nullptr;
  Staging staging_;
  absl::Status status_;

  // Bound states: host pointers, their device copies ([seq][shift | wkv] floats), and the
  // device tables [layer][slot][seq] (shift) and [layer][seq] (wkv) of per-sequence pointers
  // plus row_seq[row] and seq_begin[seq + 1].
  std::vector<RecurrentState*> states_;
  StateShape shape_;
  int64_t n_seq_ = 0;
  float* state_arena_ = nullptr;
  uint64_t state_arena_floats_ = 0;
  void* tables_dev_ = nullptr;
  void* tables_host_ = nullptr;
  uint64_t tables_cap_ = 0;
  float** shift_ptrs_ = nullptr;
  float** wkv_ptrs_ = nullptr;
  int32_t* row_seq_ = nullptr;
  int32_t* seq_begin_ = nullptr;
};

}  // namespace rwkv::engine::cuda
