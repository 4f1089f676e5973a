// The CUDA implementation of backend::Stream. Ops are enqueued on one CUDA stream and run
// asynchronously; BindStates uploads the bound states into a device arena (and the tables that
// map rows to sequences), UnbindStates downloads them back into the host states, unless the
// stream keeps them on the device (DeviceOptions::keep_states_on_device): then they stay in the
// arena, and binding the very same states again moves nothing.
//
// Ops are not launched when called: each appends its launch and a byte signature of its
// arguments (device addresses, shapes, scalars) to the step. At the next synchronization the
// step runs: as the cached CUDA graph when its signature equals the one the graph was captured
// from (a decode loop: same buffers, same states, same staging offsets), captured into that
// graph when it equals the previous step's, launched one by one otherwise. Token ids, row
// indices and logits pass through pinned staging whose offsets repeat from step to step, so a
// replayed graph reads the new values. RWKV_CUDA_GRAPHS=0 launches every step one by one.
#pragma once

#include <cuda_runtime.h>

#include <bit>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/op_profile.h"
#include "backend/cuda/staging.h"

namespace rwkv::engine::cuda {

class CudaStream final : public backend::Stream {
 public:
  CudaStream(int device, bool keep_states_on_device);
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
  absl::Status FlushStates() override;

  // Fused forms of the compound ops (the defaults where a fused kernel does not apply).
  void NormShiftLerps(int layer, int slot, backend::Tensor x, const backend::WeightView& w,
                      const backend::WeightView& b, float eps, backend::Tensor xa,
                      backend::Tensor sx, std::span<const backend::WeightView* const> mixes,
                      std::span<const backend::Tensor> outs) override;
  void LoraLerps(std::span<const backend::WeightView* const> w2, backend::Tensor h, int64_t dm,
                 backend::Tensor xa, backend::Tensor sx,
                 std::span<const backend::WeightView* const> mixes, backend::Tensor tmp,
                 std::span<const backend::Tensor> outs) override;
  void MatMuls(std::span<const Product> products) override;
  void MatMulDecay(const backend::WeightView& w, backend::Tensor x, backend::Tensor y,
                   const backend::WeightView& time_decay) override;
  void MatMulGatedAdd(const backend::WeightView& w, backend::Tensor x, backend::Tensor y,
                      backend::Tensor acc, backend::Tensor gate) override;
  void Wkv6GroupNorm(int layer, int64_t head_size, backend::Tensor r, backend::Tensor k,
                     backend::Tensor v, backend::Tensor w, const backend::WeightView& u,
                     backend::Tensor y, const backend::WeightView& norm_w,
                     const backend::WeightView& norm_b, float eps, backend::Tensor gate) override;

 private:
  void Fail(absl::Status status);
  // Records a launch error of the op just enqueued.
  void CheckLaunch(const char* op);
  bool CheckLayer(int layer);
  // Whether the bound layout has one row per sequence (decode) and x covers exactly those rows.
  bool OneRowPerSequence(int64_t rows) const { return one_row_per_seq_ && rows == n_seq_; }
  // Enqueues mat-vec products that share type, reduced dimension and rows of x.
  void EnqueueMatVecs(std::vector<VecProduct> products);
  // Makes room in the staging arenas, synchronizing first when they are full.
  bool Stage(uint64_t upload_bytes, uint64_t download_bytes);
  absl::Status Drain();
  // Appends one op: its launch and the bytes of its arguments.
  // `op` names the op kind (OpName) for the signature and the profile.
  template <typename... Args>
  void Enqueue(std::function<void()> launch, int op, const Args&... args) {
    AppendSig(op);
    (AppendSig(args), ...);
    ops_.push_back(std::move(launch));
    if (profile_ != nullptr) profile_->Label(op, std::move(label_));
    label_.clear();
  }
  template <typename T>
  void AppendSig(const T& v) {
    static_assert(std::is_trivially_copyable_v<T> && std::has_unique_object_representations_v<T>);
    sig_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void AppendSig(const DeviceTensor& t) {
    AppendSig(t.data), AppendSig(t.rows), AppendSig(t.cols), AppendSig(t.stride);
  }
  void AppendSig(const DeviceMatrix& m) {
    AppendSig(m.type), AppendSig(m.cols), AppendSig(m.rows), AppendSig(m.row_bytes);
    AppendSig(m.data);
  }
  void AppendSig(float f) { AppendSig(std::bit_cast<uint32_t>(f)); }
  // Launches the ops of the step (graph replay, capture, or one by one).
  void Flush();
  void RunOps();
  // Enqueues the download of arena slot s into `state`.
  void DownloadState(int64_t s, RecurrentState& state);
  uint64_t FloatsPerState() const;

  // A state left in arena slot i (its index here) by the last UnbindStates, with the buffers
  // it had then: the same object with other buffers is another state.
  struct Resident {
    RecurrentState* state;
    const float* shift;
    const float* wkv;
    bool operator==(const Resident&) const = default;
  };

  // RWKV_CUDA_PROFILE=1: every op timed with CUDA events (graphs off), printed at destruction.
  std::unique_ptr<OpProfile> profile_;
  std::string label_;  // shape detail of the op being enqueued, for the profile
  int device_;
  bool keep_states_;
  bool graphs_;
  std::vector<std::function<void()>> ops_;
  std::string sig_, last_sig_, graph_sig_;
  cudaGraphExec_t graph_ = nullptr;
  // Partial sums of split tile products (sequential on the stream, so one is enough).
  float* workspace_ = nullptr;
  uint64_t workspace_floats_ = 0;
  std::vector<Resident> resident_;
  cudaStream_t stream_ = nullptr;
  Staging staging_;
  absl::Status status_;

  // Bound states: host pointers, their device copies ([seq][shift | wkv] floats), and the
  // device tables [layer][slot][seq] (shift) and [layer][seq] (wkv) of per-sequence pointers
  // plus seq_begin[seq + 1].
  std::vector<RecurrentState*> states_;
  StateShape shape_;
  int64_t n_seq_ = 0;
  bool one_row_per_seq_ = false;
  float* state_arena_ = nullptr;
  uint64_t state_arena_floats_ = 0;
  void* tables_dev_ = nullptr;
  void* tables_host_ = nullptr;
  uint64_t tables_cap_ = 0;
  // What the device tables hold (bytes of the last upload; 0: unknown).
  std::vector<uint8_t> last_tables_;
  uint64_t tables_uploaded_ = 0;
  float** shift_ptrs_ = nullptr;
  float** wkv_ptrs_ = nullptr;
  int32_t* seq_begin_ = nullptr;
};

}  // namespace rwkv::engine::cuda
