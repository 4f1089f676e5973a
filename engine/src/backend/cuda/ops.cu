// The element-wise and per-row ops of the RWKV-6 layer: embedding, norms, token shift,
// lerp, decay, WKV6 and the small copies. One thread per element or one block per row.
#include <cmath>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/dequant.cuh"
#include "backend/cuda/pdl.cuh"

namespace rwkv::engine::cuda {
namespace {

constexpr int kThreads = 256;

unsigned Blocks(int64_t n, int per_block = kThreads) {
  return static_cast<unsigned>((n + per_block - 1) / per_block);
}

template <uint32_t kType>
__global__ void EmbedKernel(const uint8_t* table, uint64_t row_bytes, int64_t cols,
                            const int32_t* tokens, float* out, int64_t stride) {
  ChainedRelease();
  ChainedWait();
  const int64_t r = blockIdx.x;
  const uint8_t* row = table + static_cast<int64_t>(tokens[r]) * row_bytes;
  float* o = out + r * stride;
  const int64_t k8 = cols / 8 * 8;
  for (int64_t e = threadIdx.x * 8; e < k8; e += blockDim.x * 8) {
    float v[8];
    Dequant8<kType>(row, e, v);
    for (int i = 0; i < 8; ++i) o[e + i] = v[i];
  }
  for (int64_t e = k8 + threadIdx.x; e < cols; e += blockDim.x) o[e] = Dequant1<kType>(row, e);
}

// Block-wide sum in double (the CPU reference sums in double too).
__device__ double BlockSum(double v, double* scratch) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  double total = 0.0;
  for (int i = 0; i < static_cast<int>(blockDim.x >> 5); ++i) total += scratch[i];
  return total;
}

// Normalizes n values at x into out (may alias) with affine (w, b), cooperatively by the block.
__device__ void NormalizeSpan(const float* x, int64_t n, float eps, const float* w, const float* b,
                              float* out, double* scratch) {
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
  const float mean = static_cast<float>(BlockSum(s, scratch) / static_cast<double>(n));
  double s2 = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float d = x[i] - mean;
    s2 += static_cast<double>(d * d);
  }
  const float var = static_cast<float>(BlockSum(s2, scratch) / static_cast<double>(n));
  const float scale = 1.0f / sqrtf(var + eps);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    out[i] = (x[i] - mean) * scale * w[i] + b[i];
  }
}

__global__ void LayerNormKernel(const float* x, int64_t xs, int64_t cols, const float* w,
                                const float* b, float eps, float* out, int64_t os) {
  ChainedRelease();
  ChainedWait();
  __shared__ double scratch[32];
  NormalizeSpan(x + blockIdx.x * xs, cols, eps, w, b, out + blockIdx.x * os, scratch);
}

// One block per (row, group).
__global__ void GroupNormMulKernel(float* y, int64_t ys, int64_t group, int64_t groups,
                                   const float* w, const float* b, float eps, const float* gate,
                                   int64_t gs) {
  __shared__ double scratch[32];
  const int64_t r = blockIdx.x / groups, g = blockIdx.x % groups;
  float* yr = y + r * ys + g * group;
  NormalizeSpan(yr, group, eps, w + g * group, b + g * group, yr, scratch);
  __syncthreads();
  const float* gr = gate + r * gs + g * group;
  for (int64_t i = threadIdx.x; i < group; i += blockDim.x) yr[i] *= gr[i];
}

// One thread per (sequence, column), walking the sequence's rows: the shift vector is read
// before it is replaced by the same thread, so any number of rows per sequence is safe.
__global__ void ShiftDeltaKernel(const float* cur, int64_t cs, int64_t cols, float* delta,
                                 int64_t ds, const int32_t* seq_begin, float* const* shift) {
  const int64_t s = blockIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float* sh = shift[s];
  float prev = sh[c];
  const int64_t r1 = seq_begin[s + 1];
  for (int64_t r = seq_begin[s]; r < r1; ++r) {
    const float x = cur[r * cs + c];
    delta[r * ds + c] = prev - x;
    prev = x;
  }
  sh[c] = prev;
}

// Up to four lerps of one (base, delta) pair: out[i] = base + delta·mix[i].
constexpr int kMaxMixes = 4;
struct MixSet {
  const float* mix[kMaxMixes];
  float* out[kMaxMixes];
  int64_t out_stride[kMaxMixes];
  int n;
};

// One block per row, every sequence one row: the layer norm of NormalizeSpan, then each thread
// takes the columns it wrote itself through token shift and the lerps (rows of any width).
__global__ void NormShiftLerpsKernel(const float* x, int64_t xs, int64_t cols, const float* w,
                                     const float* b, float eps, float* xa, int64_t xas, float* sx,
                                     int64_t sxs, float* const* shift, MixSet mixes) {
  ChainedRelease();
  ChainedWait();
  __shared__ double scratch[32];
  const int64_t r = blockIdx.x;
  float* ar = xa + r * xas;
  NormalizeSpan(x + r * xs, cols, eps, w, b, ar, scratch);
  float* sh = shift[r];
  for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
    const float a = ar[i];
    const float d = sh[i] - a;
    sh[i] = a;
    sx[r * sxs + i] = d;
    for (int m = 0; m < mixes.n; ++m) {
      mixes.out[m][r * mixes.out_stride[m] + i] = a + d * mixes.mix[m][i];
    }
  }
}

// NormShiftLerpsKernel for rows up to kNormThreads·kNormPer columns, each thread holding its
// columns in registers: every load (the weights' vectors before waiting for the previous
// kernel, then x and the shift vector) is issued at once, before any store, so the row costs
// one memory round trip instead of one per column step.
constexpr int kNormThreads = 512;
constexpr int kNormPer = 8;

__global__ void __launch_bounds__(kNormThreads)
    NormShiftLerpsRegKernel(const float* x, int64_t xs, int64_t cols, const float* w,
                            const float* b, float eps, float* xa, int64_t xas, float* sx,
                            int64_t sxs, float* const* shift, MixSet mixes) {
  __shared__ double scratch[32];
  ChainedRelease();
  const int tid = threadIdx.x;
  float wv[kNormPer], bv[kNormPer], mv[kMaxMixes][kNormPer];
#pragma unroll
  for (int p = 0; p < kNormPer; ++p) {
    const int64_t i = tid + p * kNormThreads;
    const bool in = i < cols;
    wv[p] = in ? w[i] : 0.0f;
    bv[p] = in ? b[i] : 0.0f;
#pragma unroll
    for (int m = 0; m < kMaxMixes; ++m) mv[m][p] = in && m < mixes.n ? mixes.mix[m][i] : 0.0f;
  }
  ChainedWait();
  const int64_t r = blockIdx.x;
  const float* xr = x + r * xs;
  float* sh = shift[r];
  float xv[kNormPer], shv[kNormPer];
#pragma unroll
  for (int p = 0; p < kNormPer; ++p) {
    const int64_t i = tid + p * kNormThreads;
    xv[p] = i < cols ? xr[i] : 0.0f;
    shv[p] = i < cols ? sh[i] : 0.0f;
  }
  double s = 0.0;
#pragma unroll
  for (int p = 0; p < kNormPer; ++p) {
    if (tid + p * kNormThreads < cols) s += xv[p];
  }
  const float mean = static_cast<float>(BlockSum(s, scratch) / static_cast<double>(cols));
  double s2 = 0.0;
#pragma unroll
  for (int p = 0; p < kNormPer; ++p) {
    if (tid + p * kNormThreads < cols) {
      const float d = xv[p] - mean;
      s2 += static_cast<double>(d * d);
    }
  }
  const float var = static_cast<float>(BlockSum(s2, scratch) / static_cast<double>(cols));
  const float scale = 1.0f / sqrtf(var + eps);
#pragma unroll
  for (int p = 0; p < kNormPer; ++p) {
    const int64_t i = tid + p * kNormThreads;
    if (i >= cols) continue;
    const float a = (xv[p] - mean) * scale * wv[p] + bv[p];
    const float d = shv[p] - a;
    xa[r * xas + i] = a;
    sh[i] = a;
    sx[r * sxs + i] = d;
#pragma unroll
    for (int m = 0; m < kMaxMixes; ++m) {
      if (m < mixes.n) mixes.out[m][r * mixes.out_stride[m] + i] = a + d * mv[m][p];
    }
  }
}

// ShiftDeltaKernel followed by the lerps of each row.
__global__ void ShiftLerpsKernel(const float* cur, int64_t cs, int64_t cols, float* delta,
                                 int64_t ds, const int32_t* seq_begin, float* const* shift,
                                 MixSet mixes) {
  const int64_t s = blockIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float* sh = shift[s];
  float prev = sh[c];
  const int64_t r1 = seq_begin[s + 1];
  for (int64_t r = seq_begin[s]; r < r1; ++r) {
    const float x = cur[r * cs + c];
    const float d = prev - x;
    delta[r * ds + c] = d;
    for (int m = 0; m < mixes.n; ++m) {
      mixes.out[m][r * mixes.out_stride[m] + c] = x + d * mixes.mix[m][c];
    }
    prev = x;
  }
  sh[c] = prev;
}

struct LoraSet {
  const uint8_t* w[5];
  uint64_t row_bytes;
  const float* mix[5];
  float* out[5];
  int64_t out_stride[5];
};

// One thread per (row, j, column c): the dm-long product of h's slice j with row c of w2[j],
// then the lerp it feeds.
template <uint32_t kType>
__global__ void LoraLerpsKernel(LoraSet set, const float* h, int64_t hs, int64_t dm,
                                const float* xa, int64_t xas, const float* sx, int64_t sxs,
                                int64_t cols) {
  ChainedRelease();
  ChainedWait();
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int j = blockIdx.y;
  const int64_t r = blockIdx.z;
  if (c >= cols) return;
  const uint8_t* wr = set.w[j] + c * set.row_bytes;
  const float* hr = h + r * hs + j * dm;
  float acc = 0.0f;
  for (int64_t e = 0; e < dm; e += 8) {
    float wv[8];
    Dequant8<kType>(wr, e, wv);
#pragma unroll
    for (int i = 0; i < 8; ++i) acc = fmaf(wv[i], hr[e + i], acc);
  }
  const float m = set.mix[j][c] + acc;
  set.out[j][r * set.out_stride[j] + c] = xa[r * xas + c] + sx[r * sxs + c] * m;
}

__global__ void LerpKernel(const float* base, int64_t bs, const float* delta, int64_t dls,
                           const float* mix, const float* extra, int64_t es, float* out, int64_t os,
                           int64_t rows, int64_t cols) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * cols) return;
  const int64_t r = i / cols, c = i % cols;
  const float m = extra != nullptr ? mix[c] + extra[r * es + c] : mix[c];
  out[r * os + c] = base[r * bs + c] + delta[r * dls + c] * m;
}

__global__ void DecayKernel(float* x, int64_t xs, const float* td, int64_t rows, int64_t cols) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * cols) return;
  const int64_t r = i / cols, c = i % cols;
  float* v = x + r * xs + c;
  *v = expf(-expf(td[c] + *v));
}

__global__ void MulAddKernel(float* acc, int64_t as, const float* a, int64_t ass, const float* b,
                             int64_t bs, int64_t rows, int64_t cols) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * cols) return;
  const int64_t r = i / cols, c = i % cols;
  acc[r * as + c] += a[r * ass + c] * b[r * bs + c];
}

__global__ void ScaleKernel(float* x, int64_t xs, float s, int64_t rows, int64_t cols) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * cols) return;
  x[(i / cols) * xs + i % cols] *= s;
}

__global__ void GatherKernel(const float* src, int64_t ss, const int64_t* rows, float* dst,
                             int64_t ds, int64_t cols) {
  ChainedRelease();
  ChainedWait();
  const int64_t r = blockIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c < cols) dst[r * ds + c] = src[rows[r] * ss + c];
}

// WKV6 with the state of one head in registers: thread j owns value column j (S key rows).
// Each token: y_j = Σ_i r_i·(u_i·k_i·v_j + s_ij), then s_ij = w_i·s_ij + k_i·v_j, in the
// reference's order.
template <int kS>
__global__ void Wkv6Kernel(const int32_t* seq_begin, int64_t heads, const float* r, const float* k,
                           const float* v, const float* w, int64_t stride, const float* u,
                           float* const* state, float* y) {
  const int64_t s = blockIdx.x / heads, h = blockIdx.x % heads;
  const int j = threadIdx.x;
  __shared__ float rs[kS], ks[kS], ws[kS], us[kS];
  float* st = state[s] + h * kS * kS;
  float sv[kS];
#pragma unroll
  for (int i = 0; i < kS; ++i) sv[i] = st[i * kS + j];
  us[j] = u[h * kS + j];
  const int64_t t0 = seq_begin[s], t1 = seq_begin[s + 1];
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t off = t * stride + h * kS;
    __syncthreads();
    rs[j] = r[off + j];
    ks[j] = k[off + j];
    ws[j] = w[off + j];
    const float vj = v[off + j];
    __syncthreads();
    float yj = 0.0f;
#pragma unroll
    for (int i = 0; i < kS; ++i) {
      const float kv = ks[i] * vj;
      yj += rs[i] * (us[i] * kv + sv[i]);
      sv[i] = ws[i] * sv[i] + kv;
    }
    y[off + j] = yj;
  }
#pragma unroll
  for (int i = 0; i < kS; ++i) st[i * kS + j] = sv[i];
}

// Wkv6Kernel for one row per sequence (row s), then the group norm of the head's kS outputs
// (NormalizeSpan's arithmetic) and the gate.
template <int kS>
__global__ void Wkv6GroupNormKernel(int64_t heads, const float* r, const float* k, const float* v,
                                    const float* w, int64_t stride, const float* u,
                                    float* const* state, float* y, const float* nw, const float* nb,
                                    float eps, const float* gate, int64_t gate_stride) {
  ChainedRelease();
  ChainedWait();
  const int64_t s = blockIdx.x / heads, h = blockIdx.x % heads;
  const int j = threadIdx.x;
  __shared__ float rs[kS], ks[kS], ws[kS], us[kS];
  __shared__ double scratch[32];
  float* st = state[s] + h * kS * kS;
  float sv[kS];
#pragma unroll
  for (int i = 0; i < kS; ++i) sv[i] = st[i * kS + j];
  const int64_t off = s * stride + h * kS;
  us[j] = u[h * kS + j];
  rs[j] = r[off + j];
  ks[j] = k[off + j];
  ws[j] = w[off + j];
  const float vj = v[off + j];
  __syncthreads();
  float yj = 0.0f;
#pragma unroll
  for (int i = 0; i < kS; ++i) {
    const float kv = ks[i] * vj;
    yj += rs[i] * (us[i] * kv + sv[i]);
    sv[i] = ws[i] * sv[i] + kv;
  }
#pragma unroll
  for (int i = 0; i < kS; ++i) st[i * kS + j] = sv[i];
  const float mean = static_cast<float>(BlockSum(yj, scratch) / static_cast<double>(kS));
  const float d = yj - mean;
  const float var =
      static_cast<float>(BlockSum(static_cast<double>(d * d), scratch) / static_cast<double>(kS));
  const float scale = 1.0f / sqrtf(var + eps);
  const int64_t c = h * kS + j;
  const float normed = (yj - mean) * scale * nw[c] + nb[c];
  y[off + j] = normed * gate[s * gate_stride + c];
}

// Any head size: the state stays in global memory (one thread per value column).
__global__ void Wkv6AnyKernel(const int32_t* seq_begin, int64_t heads, int64_t hs, const float* r,
                              const float* k, const float* v, const float* w, int64_t stride,
                              const float* u, float* const* state, float* y) {
  const int64_t s = blockIdx.x / heads, h = blockIdx.x % heads;
  float* st = state[s] + h * hs * hs;
  for (int64_t j = threadIdx.x; j < hs; j += blockDim.x) {
    for (int64_t t = seq_begin[s]; t < seq_begin[s + 1]; ++t) {
      const int64_t off = t * stride + h * hs;
      const float vj = v[off + j];
      float yj = 0.0f;
      for (int64_t i = 0; i < hs; ++i) {
        const float kv = k[off + i] * vj;
        float* sij = st + i * hs + j;
        yj += r[off + i] * (u[h * hs + i] * kv + *sij);
        *sij = w[off + i] * *sij + kv;
      }
      y[off + j] = yj;
    }
  }
}

__global__ void PackRowsKernel(const float* src, int64_t ss, int64_t cols, float* dst) {
  const int64_t r = blockIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c < cols) dst[r * cols + c] = src[r * ss + c];
}

}  // namespace

struct EmbedLauncher {
  const DeviceMatrix& table;
  const int32_t* tokens;
  int64_t n;
  DeviceTensor out;
  cudaStream_t stream;

  template <uint32_t kType>
  void operator()() const {
    LaunchChained(EmbedKernel<kType>, dim3(static_cast<unsigned>(n)), dim3(128), stream,
                  static_cast<const uint8_t*>(table.data), table.row_bytes, table.cols, tokens,
                  out.data, out.stride);
  }
};

void LaunchEmbed(const DeviceMatrix& table, const int32_t* tokens, int64_t n, DeviceTensor out,
                 cudaStream_t stream) {
  if (n == 0) return;
  DispatchType(table.type, EmbedLauncher{table, tokens, n, out, stream});
}

void LaunchLayerNorm(DeviceTensor x, const float* w, const float* b, float eps, DeviceTensor out,
                     cudaStream_t stream) {
  if (x.rows == 0) return;
  LaunchChained(LayerNormKernel, dim3(static_cast<unsigned>(x.rows)), dim3(kThreads), stream,
                x.data, x.stride, x.cols, w, b, eps, out.data, out.stride);
}

void LaunchGroupNormMul(DeviceTensor y, int64_t group, const float* w, const float* b, float eps,
                        DeviceTensor gate, cudaStream_t stream) {
  const int64_t groups = y.cols / group;
  if (y.rows == 0 || groups == 0) return;
  const int threads = group >= 128 ? 128 : (group >= 64 ? 64 : 32);
  GroupNormMulKernel<<<static_cast<unsigned>(y.rows * groups), threads, 0, stream>>>(
      y.data, y.stride, group, groups, w, b, eps, gate.data, gate.stride);
}

void LaunchShiftDelta(DeviceTensor cur, DeviceTensor delta, int64_t n_seq, const int32_t* seq_begin,
                      float* const* shift, cudaStream_t stream) {
  if (n_seq == 0 || cur.cols == 0) return;
  ShiftDeltaKernel<<<dim3(Blocks(cur.cols), static_cast<unsigned>(n_seq)), kThreads, 0, stream>>>(
      cur.data, cur.stride, cur.cols, delta.data, delta.stride, seq_begin, shift);
}

void LaunchLerp(DeviceTensor base, DeviceTensor delta, const float* mix, const DeviceTensor* extra,
                DeviceTensor out, cudaStream_t stream) {
  const int64_t n = base.rows * base.cols;
  if (n == 0) return;
  LerpKernel<<<Blocks(n), kThreads, 0, stream>>>(base.data, base.stride, delta.data, delta.stride,
                                                 mix, extra != nullptr ? extra->data : nullptr,
                                                 extra != nullptr ? extra->stride : 0, out.data,
                                                 out.stride, base.rows, base.cols);
}

void LaunchDecay(DeviceTensor x, const float* time_decay, cudaStream_t stream) {
  const int64_t n = x.rows * x.cols;
  if (n == 0) return;
  DecayKernel<<<Blocks(n), kThreads, 0, stream>>>(x.data, x.stride, time_decay, x.rows, x.cols);
}

void LaunchWkv6(int64_t n_seq, const int32_t* seq_begin, int64_t heads, int64_t head_size,
                DeviceTensor r, DeviceTensor k, DeviceTensor v, DeviceTensor w, const float* u,
                float* const* state, DeviceTensor y, cudaStream_t stream) {
  if (n_seq == 0 || heads == 0) return;
  const unsigned blocks = static_cast<unsigned>(n_seq * heads);
  switch (head_size) {
    case 32:
      return Wkv6Kernel<32><<<blocks, 32, 0, stream>>>(seq_begin, heads, r.data, k.data, v.data,
                                                       w.data, r.stride, u, state, y.data);
    case 64:
      return Wkv6Kernel<64><<<blocks, 64, 0, stream>>>(seq_begin, heads, r.data, k.data, v.data,
                                                       w.data, r.stride, u, state, y.data);
    case 128:
      return Wkv6Kernel<128><<<blocks, 128, 0, stream>>>(seq_begin, heads, r.data, k.data, v.data,
                                                         w.data, r.stride, u, state, y.data);
    default:
      Wkv6AnyKernel<<<blocks, 64, 0, stream>>>(seq_begin, heads, head_size, r.data, k.data, v.data,
                                               w.data, r.stride, u, state, y.data);
  }
}

namespace {

MixSet Mixes(const float* const* mixes, const DeviceTensor* outs, int n) {
  MixSet set{};
  set.n = n;
  for (int i = 0; i < n; ++i) {
    set.mix[i] = mixes[i];
    set.out[i] = outs[i].data;
    set.out_stride[i] = outs[i].stride;
  }
  return set;
}

struct LoraLauncher {
  const LoraSet& set;
  DeviceTensor h;
  int64_t dm;
  DeviceTensor xa, sx;
  cudaStream_t stream;

  template <uint32_t kType>
  void operator()() const {
    const dim3 grid(Blocks(xa.cols), 5, static_cast<unsigned>(xa.rows));
    LaunchChained(LoraLerpsKernel<kType>, grid, dim3(kThreads), stream, set, h.data, h.stride, dm,
                  xa.data, xa.stride, sx.data, sx.stride, xa.cols);
  }
};

}  // namespace

void LaunchNormShiftLerps(DeviceTensor x, const float* w, const float* b, float eps,
                          DeviceTensor xa, DeviceTensor sx, float* const* shift,
                          const float* const* mixes, const DeviceTensor* outs, int n_mix,
                          cudaStream_t stream) {
  if (x.rows == 0) return;
  if (x.cols <= kNormThreads * kNormPer) {
    return LaunchChained(NormShiftLerpsRegKernel, dim3(static_cast<unsigned>(x.rows)),
                         dim3(kNormThreads), stream, x.data, x.stride, x.cols, w, b, eps, xa.data,
                         xa.stride, sx.data, sx.stride, shift, Mixes(mixes, outs, n_mix));
  }
  LaunchChained(NormShiftLerpsKernel, dim3(static_cast<unsigned>(x.rows)), dim3(kThreads), stream,
                x.data, x.stride, x.cols, w, b, eps, xa.data, xa.stride, sx.data, sx.stride, shift,
                Mixes(mixes, outs, n_mix));
}

void LaunchShiftLerps(DeviceTensor cur, DeviceTensor delta, int64_t n_seq, const int32_t* seq_begin,
                      float* const* shift, const float* const* mixes, const DeviceTensor* outs,
                      int n_mix, cudaStream_t stream) {
  if (n_seq == 0 || cur.cols == 0) return;
  ShiftLerpsKernel<<<dim3(Blocks(cur.cols), static_cast<unsigned>(n_seq)), kThreads, 0, stream>>>(
      cur.data, cur.stride, cur.cols, delta.data, delta.stride, seq_begin, shift,
      Mixes(mixes, outs, n_mix));
}

void LaunchLoraLerps(const DeviceMatrix* w2, DeviceTensor h, int64_t dm, DeviceTensor xa,
                     DeviceTensor sx, const float* const* mixes, const DeviceTensor* outs,
                     cudaStream_t stream) {
  if (xa.rows == 0 || xa.cols == 0) return;
  LoraSet set{};
  set.row_bytes = w2[0].row_bytes;
  for (int j = 0; j < 5; ++j) {
    set.w[j] = static_cast<const uint8_t*>(w2[j].data);
    set.mix[j] = mixes[j];
    set.out[j] = outs[j].data;
    set.out_stride[j] = outs[j].stride;
  }
  DispatchType(w2[0].type, LoraLauncher{set, h, dm, xa, sx, stream});
}

bool WkvGroupNormFits(int64_t head_size) {
  return head_size == 32 || head_size == 64 || head_size == 128;
}

void LaunchWkv6GroupNorm(int64_t n_seq, int64_t heads, int64_t head_size, DeviceTensor r,
                         DeviceTensor k, DeviceTensor v, DeviceTensor w, const float* u,
                         float* const* state, DeviceTensor y, const float* norm_w,
                         const float* norm_b, float eps, DeviceTensor gate, cudaStream_t stream) {
  if (n_seq == 0 || heads == 0) return;
  const unsigned blocks = static_cast<unsigned>(n_seq * heads);
  switch (head_size) {
    case 32:
      return LaunchChained(Wkv6GroupNormKernel<32>, dim3(blocks), dim3(32), stream, heads, r.data,
                           k.data, v.data, w.data, r.stride, u, state, y.data, norm_w, norm_b, eps,
                           gate.data, gate.stride);
    case 64:
      return LaunchChained(Wkv6GroupNormKernel<64>, dim3(blocks), dim3(64), stream, heads, r.data,
                           k.data, v.data, w.data, r.stride, u, state, y.data, norm_w, norm_b, eps,
                           gate.data, gate.stride);
    default:
      return LaunchChained(Wkv6GroupNormKernel<128>, dim3(blocks), dim3(128), stream, heads, r.data,
                           k.data, v.data, w.data, r.stride, u, state, y.data, norm_w, norm_b, eps,
                           gate.data, gate.stride);
  }
}

void LaunchMulAdd(DeviceTensor acc, DeviceTensor a, DeviceTensor b, cudaStream_t stream) {
  const int64_t n = acc.rows * acc.cols;
  if (n == 0) return;
  MulAddKernel<<<Blocks(n), kThreads, 0, stream>>>(acc.data, acc.stride, a.data, a.stride, b.data,
                                                   b.stride, acc.rows, acc.cols);
}

void LaunchScale(DeviceTensor x, float s, cudaStream_t stream) {
  const int64_t n = x.rows * x.cols;
  if (n == 0) return;
  ScaleKernel<<<Blocks(n), kThreads, 0, stream>>>(x.data, x.stride, s, x.rows, x.cols);
}

void LaunchGatherRows(DeviceTensor src, const int64_t* rows, int64_t n, DeviceTensor dst,
                      cudaStream_t stream) {
  if (n == 0 || src.cols == 0) return;
  LaunchChained(GatherKernel, dim3(Blocks(src.cols), static_cast<unsigned>(n)), dim3(kThreads),
                stream, src.data, src.stride, rows, dst.data, dst.stride, src.cols);
}

void LaunchPackRows(DeviceTensor src, int64_t row, int64_t count, float* dst, cudaStream_t stream) {
  if (count == 0 || src.cols == 0) return;
  PackRowsKernel<<<dim3(Blocks(src.cols), static_cast<unsigned>(count)), kThreads, 0, stream>>>(
      src.data + row * src.stride, src.stride, src.cols, dst);
}

}  // namespace rwkv::engine::cuda
