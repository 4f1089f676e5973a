// Host-side launchers of the CUDA kernels. Plain C++ (no Abseil) so that the .cu files and the
// stream share one declaration. Every launcher enqueues on `stream` and returns at once;
// launch errors surface through cudaGetLastError() in the caller.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace rwkv::engine::cuda {

// A typed weight matrix in device memory (mirrors backend::WeightView without its header).
struct DeviceMatrix {
  uint32_t type = 0;  // GgmlType id
  int64_t cols = 0;
  int64_t rows = 0;
  uint64_t row_bytes = 0;
  const void* data = nullptr;
};

// A dense f32 matrix in device memory.
struct DeviceTensor {
  float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t stride = 0;
};

// Matches backend::Epilogue, then two epilogues of the mat-vec kernel only: kDecay stores
// exp(-exp(aux[m] + v)) (Decay fused into its product), kGatedAdd adds aux[n][m]·v to y
// (MulAdd fused into its product).
enum class Act : int {
  kNone = 0,
  kTanh = 1,
  kSigmoid = 2,
  kSilu = 3,
  kReluSquare = 4,
  kDecay = 5,
  kGatedAdd = 6
};

// Types the kernels decode.
bool KernelSupportsType(uint32_t type);

// y (+)= act(x · wᵀ). A mat-vec kernel for few rows of x, a tensor-core tile kernel (bf16
// split into high and low halves, three products: close to f32 accuracy) for many, splitting
// the reduced dimension over `workspace` (MatMulWorkspaceFloats floats, or null: no split)
// when the product has few output tiles.
void LaunchMatMul(const DeviceMatrix& w, DeviceTensor x, DeviceTensor y, Act act, bool accumulate,
                  float* workspace, cudaStream_t stream);
int64_t MatMulWorkspaceFloats(const DeviceMatrix& w, int64_t x_rows);
// Whether a product with x_rows rows of x runs on the mat-vec kernel (the only one that takes
// the kDecay and kGatedAdd epilogues and several products per launch).
bool UsesMatVec(const DeviceMatrix& w, int64_t x_rows);
struct VecProduct {
  DeviceMatrix w;
  DeviceTensor x, y;
  Act act = Act::kNone;
  bool accumulate = false;
  const float* aux = nullptr;
  int64_t aux_stride = 0;
};
// Independent mat-vec products in as few launches as possible; all share the weight type, the
// reduced dimension (w.cols) and x.rows, and each UsesMatVec.
void LaunchMatVecs(const VecProduct* products, int n, cudaStream_t stream);

// out[i] = f32(table row tokens[i]); tokens in device memory.
void LaunchEmbed(const DeviceMatrix& table, const int32_t* tokens, int64_t n, DeviceTensor out,
                 cudaStream_t stream);
void LaunchLayerNorm(DeviceTensor x, const float* w, const float* b, float eps, DeviceTensor out,
                     cudaStream_t stream);
void LaunchGroupNormMul(DeviceTensor y, int64_t group, const float* w, const float* b, float eps,
                        DeviceTensor gate, cudaStream_t stream);
// delta[r] = prev(r) - cur[r], prev of a sequence's first row being its shift vector, then
// shift[s] = the sequence's last row. seq_begin: n_seq + 1 entries; shift[s] points at the
// sequence's shift vector of this layer and slot (device pointers, in device memory).
void LaunchShiftDelta(DeviceTensor cur, DeviceTensor delta, int64_t n_seq, const int32_t* seq_begin,
                      float* const* shift, cudaStream_t stream);
void LaunchLerp(DeviceTensor base, DeviceTensor delta, const float* mix, const DeviceTensor* extra,
                DeviceTensor out, cudaStream_t stream);
void LaunchDecay(DeviceTensor x, const float* time_decay, cudaStream_t stream);
// WKV6 over every sequence: state[s] points at the sequence's [H][S][S] state of the layer.
void LaunchWkv6(int64_t n_seq, const int32_t* seq_begin, int64_t heads, int64_t head_size,
                DeviceTensor r, DeviceTensor k, DeviceTensor v, DeviceTensor w, const float* u,
                float* const* state, DeviceTensor y, cudaStream_t stream);
// The fused layer-norm, token-shift and lerp of NormShiftLerps when every sequence has one row
// (row s is sequence s): xa = LayerNorm(x), sx = shift[s] - xa, shift[s] = xa, outs[i] =
// xa + sx·mixes[i] for i < n_mix (at most 4).
void LaunchNormShiftLerps(DeviceTensor x, const float* w, const float* b, float eps,
                          DeviceTensor xa, DeviceTensor sx, float* const* shift,
                          const float* const* mixes, const DeviceTensor* outs, int n_mix,
                          cudaStream_t stream);
// delta = shift - cur per sequence as LaunchShiftDelta, and outs[i] = cur + delta·mixes[i].
void LaunchShiftLerps(DeviceTensor cur, DeviceTensor delta, int64_t n_seq, const int32_t* seq_begin,
                      float* const* shift, const float* const* mixes, const DeviceTensor* outs,
                      int n_mix, cudaStream_t stream);
// For j < 5: outs[j] = xa + sx·(mixes[j] + h[:, j·dm, (j+1)·dm) · w2[j]ᵀ), all w2[j] of one
// type with dm columns (a multiple of 8).
void LaunchLoraLerps(const DeviceMatrix* w2, DeviceTensor h, int64_t dm, DeviceTensor xa,
                     DeviceTensor sx, const float* const* mixes, const DeviceTensor* outs,
                     cudaStream_t stream);
// LaunchWkv6 then LaunchGroupNormMul(y, head_size, ...) in one kernel, for one row per
// sequence and head sizes 32, 64, 128 (WkvGroupNormFits).
bool WkvGroupNormFits(int64_t head_size);
void LaunchWkv6GroupNorm(int64_t n_seq, int64_t heads, int64_t head_size, DeviceTensor r,
                         DeviceTensor k, DeviceTensor v, DeviceTensor w, const float* u,
                         float* const* state, DeviceTensor y, const float* norm_w,
                         const float* norm_b, float eps, DeviceTensor gate, cudaStream_t stream);
void LaunchMulAdd(DeviceTensor acc, DeviceTensor a, DeviceTensor b, cudaStream_t stream);
void LaunchScale(DeviceTensor x, float s, cudaStream_t stream);
void LaunchGatherRows(DeviceTensor src, const int64_t* rows, int64_t n, DeviceTensor dst,
                      cudaStream_t stream);
// Packs rows [row, row + count) of src densely (count·cols floats) into dst.
void LaunchPackRows(DeviceTensor src, int64_t row, int64_t count, float* dst, cudaStream_t stream);

// Device-memory read bandwidth in GB/s over a `bytes` buffer (best of 3); 0 on failure.
double MeasureReadBandwidth(int device, uint64_t bytes);

}  // namespace rwkv::engine::cuda
