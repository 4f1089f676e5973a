// Matrix products y (+)= act(x · wᵀ) on the GPU.
//
// Few rows of x (decode): one warp per weight row, each lane decoding eight consecutive
// elements per step (a warp covers 256 contiguous elements, so the row is read once,
// coalesced), against up to kMaxVecCols rows of x at once so that each weight byte is read
// once per group of columns.
//
// Many rows (prompt chunks): a 64×64 output tile per block on the tensor cores. Weights
// are decoded to f32 in registers, then each operand is split into a bf16 high part and a
// bf16 low part (the rounding rest); hi·hi + hi·lo + lo·hi in f32 accumulators leaves a
// relative error near 2^-16, close to f32, with bf16's full exponent range.
#include <mma.h>

#include <algorithm>
#include <cmath>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/dequant.cuh"
#include "backend/cuda/pdl.cuh"

namespace rwkv::engine::cuda {
namespace {

constexpr int kMaxVecCols = 8;
constexpr int kVecWarps = 4;  // rows per block of the mat-vec kernel
// From this many rows of x the mat-vec kernel's re-reads of x (once per weight row) cost more
// than the tile kernel's shared-memory staging.
constexpr int64_t kTileMinRows = 16;
// The tile kernel splits the reduced dimension until it runs about this many blocks (two per
// SM of an H100/H200), so that products with few output tiles (decode batches) still keep
// every SM streaming weights; partial sums meet in an f32 workspace.
constexpr int64_t kTargetBlocks = 264;
constexpr int64_t kMinStepsPerSplit = 4;

__device__ __forceinline__ float ApplyAct(float v, Act act) {
  switch (act) {
    case Act::kTanh:
      return tanhf(v);
    case Act::kSigmoid:
      return 1.0f / (1.0f + expf(-v));
    case Act::kSilu:
      return v / (1.0f + expf(-v));
    case Act::kReluSquare: {
      const float r = fmaxf(v, 0.0f);
      return r * r;
    }
    default:
      return v;
  }
}

// One product of a mat-vec launch; a launch runs up to kMaxJobs independent products that share
// the weight type, the reduced dimension and the rows of x (a layer's r, k, v, g projections).
struct VecJob {
  const uint8_t* w;
  uint64_t row_bytes;
  int64_t rows;
  const float* x;
  int64_t x_stride;
  float* y;
  int64_t y_stride;
  const float* aux;  // kDecay: time_decay[m]; kGatedAdd: gate[n][m] (aux_stride apart)
  int64_t aux_stride;
  Act act;
  bool accumulate;
};
constexpr int kMaxJobs = 5;
struct VecJobs {
  VecJob job[kMaxJobs];
  int64_t block_end[kMaxJobs];  // blocks of jobs [0, i] (row groups of the grid's x dimension)
  int n;
};

__device__ __forceinline__ void StoreOut(const VecJob& j, int64_t n, int64_t m, float v) {
  float* out = j.y + n * j.y_stride + m;
  if (j.act == Act::kDecay) {
    *out = expf(-expf(j.aux[m] + v));
  } else if (j.act == Act::kGatedAdd) {
    *out += j.aux[n * j.aux_stride + m] * v;
  } else {
    v = ApplyAct(v, j.act);
    *out = j.accumulate ? *out + v : v;
  }
}

// Weight rows per warp: one x vector (decode) is read once for two rows, halving the x traffic
// through L1 that otherwise equals four times the weight bytes of a Q8_0 product.
template <int kCols>
__host__ __device__ constexpr int VecRows() {
  return kCols == 1 ? 2 : 1;
}

// Rows of x [col0, col0 + kCols) against `wpr` warps per group of VecRows weight rows (the
// block's kVecWarps warps cover kVecWarps / wpr groups), each lane decoding eight elements per
// step and issuing the loads of kUnroll steps of each row before their products so that enough
// bytes are in flight to fill the memory pipe.
template <uint32_t kType, int kCols>
__global__ void __launch_bounds__(kVecWarps * 32)
    MatVecKernel(VecJobs jobs, int64_t k, int64_t n_cols, int wpr) {
  constexpr int kRows = VecRows<kCols>();
  constexpr int kUnroll = 4 / kRows;
  __shared__ float partial[kVecWarps][kRows][kCols];
  ChainedRelease();
  int ji = 0;
  while (ji + 1 < jobs.n && blockIdx.x >= jobs.block_end[ji]) ++ji;
  const VecJob& job = jobs.job[ji];
  const int64_t block = blockIdx.x - (ji == 0 ? 0 : jobs.block_end[ji - 1]);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int groups_per_block = kVecWarps / wpr;
  const int sub = warp % wpr;
  const int64_t row0 = (block * groups_per_block + warp / wpr) * kRows;
  const int64_t col0 = static_cast<int64_t>(blockIdx.y) * kCols;
  const int ncols = static_cast<int>(n_cols - col0 < kCols ? n_cols - col0 : kCols);
  bool live[kRows];
  const uint8_t* wr[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    live[r] = row0 + r < job.rows;
    wr[r] = job.w + (row0 + r) * job.row_bytes;
  }
  // The first kUnroll steps of weights are loaded before waiting for the kernel that writes x.
  const int64_t k8 = k / 8 * 8;
  const int64_t step = static_cast<int64_t>(wpr) * 256;
  const int64_t e0 = (static_cast<int64_t>(sub) * 32 + lane) * 8;
  float wv[kRows][kUnroll][8] = {};
  auto load = [&](int64_t e) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (live[r] && e + u * step < k8) Dequant8<kType, true>(wr[r], e + u * step, wv[r][u]);
      }
    }
  };
  load(e0);
  ChainedWait();
  float acc[kRows][kCols];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int c = 0; c < kCols; ++c) acc[r][c] = 0.0f;
  }
  if (live[0]) {
    const float* xc = job.x + col0 * job.x_stride;
    const bool x_aligned = ((reinterpret_cast<uintptr_t>(job.x) | (job.x_stride * 4)) & 15) == 0;
    for (int64_t e = e0; e < k8; e += kUnroll * step) {
      if (e != e0) load(e);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (e + u * step >= k8) continue;
#pragma unroll
        for (int c = 0; c < kCols; ++c) {
          if (c >= ncols) continue;
          const float* xp = xc + c * job.x_stride + e + u * step;
          float xv[8];
          if (x_aligned) {
            const float4 a = reinterpret_cast<const float4*>(xp)[0];
            const float4 b = reinterpret_cast<const float4*>(xp)[1];
            xv[0] = a.x, xv[1] = a.y, xv[2] = a.z, xv[3] = a.w;
            xv[4] = b.x, xv[5] = b.y, xv[6] = b.z, xv[7] = b.w;
          } else {
#pragma unroll
            for (int i = 0; i < 8; ++i) xv[i] = xp[i];
          }
#pragma unroll
          for (int r = 0; r < kRows; ++r) {
#pragma unroll
            for (int i = 0; i < 8; ++i) acc[r][c] = fmaf(wv[r][u][i], xv[i], acc[r][c]);
          }
        }
      }
    }
    for (int64_t t = k8 + sub * 32 + lane; t < k; t += 32 * wpr) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const float w1 = live[r] ? Dequant1<kType>(wr[r], t) : 0.0f;
#pragma unroll
        for (int c = 0; c < kCols; ++c) {
          if (c < ncols) acc[r][c] = fmaf(w1, xc[c * job.x_stride + t], acc[r][c]);
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) {
        acc[r][c] += __shfl_xor_sync(0xffffffffu, acc[r][c], off);
      }
    }
  }
  if (wpr > 1) {
    if (lane == 0) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
#pragma unroll
        for (int c = 0; c < kCols; ++c) partial[warp][r][c] = acc[r][c];
      }
    }
    __syncthreads();
    if (sub != 0) return;
    if (lane == 0) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
#pragma unroll
        for (int c = 0; c < kCols; ++c) {
          for (int i = 1; i < wpr; ++i) acc[r][c] += partial[warp + i][r][c];
        }
      }
    }
  }
  if (lane == 0) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (!live[r]) continue;
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        if (c < ncols) StoreOut(job, col0 + c, row0 + r, acc[r][c]);
      }
    }
  }
}

// Tile kernel geometry: 4 warps as 2 (weight rows) × 2 (x rows), 32×32 outputs each.
constexpr int kTileM = 64;
constexpr int kTileN = 64;
constexpr int kTileK = 32;
constexpr int kPadK = kTileK + 8;  // bf16 row pitch in shared memory
constexpr int kPadN = kTileN + 4;  // f32 pitch of the output staging
constexpr int kTileThreads = 128;

struct TileOperands {
  __nv_bfloat16 a_hi[kTileM][kPadK];
  __nv_bfloat16 a_lo[kTileM][kPadK];
  __nv_bfloat16 b_hi[kTileN][kPadK];
  __nv_bfloat16 b_lo[kTileN][kPadK];
};
union TileShared {
  TileOperands op;
  float out[kTileM][kPadN];
};

__device__ __forceinline__ void SplitStore(const float* v, __nv_bfloat16* hi, __nv_bfloat16* lo) {
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const __nv_bfloat16 h = __float2bfloat16_rn(v[i]);
    hi[i] = h;
    lo[i] = __float2bfloat16_rn(v[i] - __bfloat162float(h));
  }
}

template <uint32_t kType>
__global__ void __launch_bounds__(kTileThreads)
    TileKernel(const uint8_t* __restrict__ w, uint64_t row_bytes, int64_t rows, int64_t k,
               int64_t k_per_split, const float* __restrict__ x, int64_t x_stride, int64_t n_cols,
               float* __restrict__ y, int64_t y_stride, Act act, bool accumulate,
               float* __restrict__ partial) {
  using namespace nvcuda;
  __shared__ TileShared sh;
  const int tid = threadIdx.x, warp = tid >> 5;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kTileM;
  const int64_t n0 = static_cast<int64_t>(blockIdx.y) * kTileN;
  const int wm = warp & 1, wn = warp >> 1;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  const int64_t k_begin = static_cast<int64_t>(blockIdx.z) * k_per_split;
  const int64_t k_end = k_begin + k_per_split < k ? k_begin + k_per_split : k;
  // Weights and activations: 64 rows × 32 elements = 256 groups of 8 each, two per thread,
  // loaded (and decoded) one step ahead into registers so that the loads overlap the products.
  float wv[2][8], xv[2][8];
  auto load = [&](int64_t k0) {
#pragma unroll
    for (int g = 0; g < 2; ++g) {
      const int idx = tid + g * kTileThreads;
      const int r = idx >> 2, kk = (idx & 3) * 8;
#pragma unroll
      for (int i = 0; i < 8; ++i) wv[g][i] = xv[g][i] = 0.0f;
      if (m0 + r < rows) Dequant8<kType>(w + (m0 + r) * row_bytes, k0 + kk, wv[g]);
      if (n0 + r < n_cols) {
        const float* xp = x + (n0 + r) * x_stride + k0 + kk;
#pragma unroll
        for (int i = 0; i < 8; ++i) xv[g][i] = xp[i];
      }
    }
  };
  if (k_begin < k_end) load(k_begin);
  for (int64_t k0 = k_begin; k0 < k_end; k0 += kTileK) {
#pragma unroll
    for (int g = 0; g < 2; ++g) {
      const int idx = tid + g * kTileThreads;
      const int r = idx >> 2, kk = (idx & 3) * 8;
      SplitStore(wv[g], &sh.op.a_hi[r][kk], &sh.op.a_lo[r][kk]);
      SplitStore(xv[g], &sh.op.b_hi[r][kk], &sh.op.b_lo[r][kk]);
    }
    __syncthreads();
    if (k0 + kTileK < k_end) load(k0 + kTileK);
#pragma unroll
    for (int ks = 0; ks < kTileK; ks += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> ah[2], al[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> bh[2], bl[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        wmma::load_matrix_sync(ah[i], &sh.op.a_hi[wm * 32 + i * 16][ks], kPadK);
        wmma::load_matrix_sync(al[i], &sh.op.a_lo[wm * 32 + i * 16][ks], kPadK);
        wmma::load_matrix_sync(bh[i], &sh.op.b_hi[wn * 32 + i * 16][ks], kPadK);
        wmma::load_matrix_sync(bl[i], &sh.op.b_lo[wn * 32 + i * 16][ks], kPadK);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) {
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          wmma::mma_sync(acc[i][j], al[i], bh[j], acc[i][j]);
          wmma::mma_sync(acc[i][j], ah[i], bl[j], acc[i][j]);
          wmma::mma_sync(acc[i][j], ah[i], bh[j], acc[i][j]);
        }
      }
    }
    __syncthreads();
  }
  // Stage the 64×64 tile (weight row major) and write y[n][m] coalesced along m.
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(&sh.out[wm * 32 + i * 16][wn * 32 + j * 16], acc[i][j], kPadN,
                              wmma::mem_row_major);
  __syncthreads();
  for (int idx = tid; idx < kTileM * kTileN; idx += kTileThreads) {
    const int n = idx / kTileM, m = idx % kTileM;
    if (m0 + m < rows && n0 + n < n_cols) {
      if (partial != nullptr) {
        atomicAdd(partial + (n0 + n) * rows + m0 + m, sh.out[m][n]);
      } else {
        float* out = y + (n0 + n) * y_stride + m0 + m;
        const float v = ApplyAct(sh.out[m][n], act);
        *out = accumulate ? *out + v : v;
      }
    }
  }
}

// y[n][m] (+)= act(partial[n][m]) after a split tile product.
__global__ void SplitEpilogueKernel(const float* __restrict__ partial, int64_t rows, int64_t n_cols,
                                    float* __restrict__ y, int64_t y_stride, Act act,
                                    bool accumulate) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * n_cols) return;
  float* out = y + (i / rows) * y_stride + i % rows;
  const float v = ApplyAct(partial[i], act);
  *out = accumulate ? *out + v : v;
}

// Warps per group of weight rows: split a group over more warps while the product still fits in
// one wave (the kernel takes 64 to 80 registers: about 32 resident warps per SM, 4,224 on 132
// SMs) and each warp keeps at least two steps of 256 elements.
int WarpsPerRow(int64_t rows, int64_t k) {
  for (int wpr = kVecWarps; wpr > 1; wpr /= 2) {
    if (rows * wpr <= 4096 && k >= static_cast<int64_t>(wpr) * 512) return wpr;
  }
  return 1;
}

template <uint32_t kType, int kCols>
void LaunchVec(const VecJobs& jobs, int64_t k, int64_t n_cols, cudaStream_t stream) {
  constexpr int kRows = VecRows<kCols>();
  int64_t groups = 0;
  for (int i = 0; i < jobs.n; ++i) groups += (jobs.job[i].rows + kRows - 1) / kRows;
  const int wpr = WarpsPerRow(groups, k);
  const int rows_per_block = kVecWarps / wpr * kRows;
  VecJobs j = jobs;
  int64_t blocks = 0;
  for (int i = 0; i < j.n; ++i) {
    blocks += (j.job[i].rows + rows_per_block - 1) / rows_per_block;
    j.block_end[i] = blocks;
  }
  const dim3 grid(static_cast<unsigned>(blocks),
                  static_cast<unsigned>((n_cols + kCols - 1) / kCols));
  LaunchChained(MatVecKernel<kType, kCols>, grid, dim3(kVecWarps * 32), stream, j, k, n_cols, wpr);
}

template <uint32_t kType>
void LaunchVecCols(const VecJobs& jobs, int64_t k, int64_t n_cols, cudaStream_t stream) {
  switch (std::min<int64_t>(n_cols, kMaxVecCols)) {
    case 1:
      return LaunchVec<kType, 1>(jobs, k, n_cols, stream);
    case 2:
      return LaunchVec<kType, 2>(jobs, k, n_cols, stream);
    case 3:
    case 4:
      return LaunchVec<kType, 4>(jobs, k, n_cols, stream);
    default:
      return LaunchVec<kType, kMaxVecCols>(jobs, k, n_cols, stream);
  }
}

VecJob Job(const DeviceMatrix& w, DeviceTensor x, DeviceTensor y, Act act, bool accumulate,
           const float* aux, int64_t aux_stride) {
  return VecJob{static_cast<const uint8_t*>(w.data),
                w.row_bytes,
                w.rows,
                x.data,
                x.stride,
                y.data,
                y.stride,
                aux,
                aux_stride,
                act,
                accumulate};
}

// Whether the tile kernel can read x and w: whole 32-element steps.
bool TileFits(const DeviceMatrix& w) { return w.cols % kTileK == 0; }

bool UseTile(const DeviceMatrix& w, int64_t n) { return n >= kTileMinRows && TileFits(w); }

int64_t TileSplits(const DeviceMatrix& w, int64_t n) {
  const int64_t blocks = ((w.rows + kTileM - 1) / kTileM) * ((n + kTileN - 1) / kTileN);
  const int64_t steps = w.cols / kTileK;
  const int64_t splits = std::min((kTargetBlocks + blocks - 1) / blocks, steps / kMinStepsPerSplit);
  return std::max<int64_t>(splits, 1);
}

struct MatMulLauncher {
  const DeviceMatrix& w;
  DeviceTensor x, y;
  Act act;
  bool accumulate;
  float* workspace;
  cudaStream_t stream;

  template <uint32_t kType>
  void operator()() const {
    if (UseTile(w, x.rows)) {
      const int64_t splits = workspace != nullptr ? TileSplits(w, x.rows) : 1;
      const int64_t steps = w.cols / kTileK;
      const int64_t k_per_split = (steps + splits - 1) / splits * kTileK;
      const dim3 grid(static_cast<unsigned>((w.rows + kTileM - 1) / kTileM),
                      static_cast<unsigned>((x.rows + kTileN - 1) / kTileN),
                      static_cast<unsigned>((w.cols + k_per_split - 1) / k_per_split));
      float* partial = grid.z > 1 ? workspace : nullptr;
      if (partial != nullptr) {
        cudaMemsetAsync(partial, 0, static_cast<size_t>(w.rows * x.rows) * 4, stream);
      }
      TileKernel<kType><<<grid, kTileThreads, 0, stream>>>(
          static_cast<const uint8_t*>(w.data), w.row_bytes, w.rows, w.cols, k_per_split, x.data,
          x.stride, x.rows, y.data, y.stride, act, accumulate, partial);
      if (partial != nullptr) {
        const int64_t total = w.rows * x.rows;
        SplitEpilogueKernel<<<static_cast<unsigned>((total + 255) / 256), 256, 0, stream>>>(
            partial, w.rows, x.rows, y.data, y.stride, act, accumulate);
      }
      return;
    }
    VecJobs jobs{};
    jobs.job[0] = Job(w, x, y, act, accumulate, nullptr, 0);
    jobs.n = 1;
    LaunchVecCols<kType>(jobs, w.cols, x.rows, stream);
  }
};

struct GroupLauncher {
  const VecJobs& jobs;
  int64_t k, n_cols;
  cudaStream_t stream;

  template <uint32_t kType>
  void operator()() const {
    LaunchVecCols<kType>(jobs, k, n_cols, stream);
  }
};

struct NoOp {
  template <uint32_t kType>
  void operator()() const {}
};

}  // namespace

bool KernelSupportsType(uint32_t type) { return DispatchType(type, NoOp{}); }

int64_t MatMulWorkspaceFloats(const DeviceMatrix& w, int64_t x_rows) {
  if (!UseTile(w, x_rows) || TileSplits(w, x_rows) <= 1) return 0;
  return w.rows * x_rows;
}

void LaunchMatMul(const DeviceMatrix& w, DeviceTensor x, DeviceTensor y, Act act, bool accumulate,
                  float* workspace, cudaStream_t stream) {
  if (x.rows == 0 || w.rows == 0) return;
  DispatchType(w.type, MatMulLauncher{w, x, y, act, accumulate, workspace, stream});
}

bool UsesMatVec(const DeviceMatrix& w, int64_t x_rows) { return !UseTile(w, x_rows); }

void LaunchMatVecs(const VecProduct* products, int n, cudaStream_t stream) {
  if (n == 0 || products[0].x.rows == 0) return;
  VecJobs jobs{};
  for (int i = 0; i < n; ++i) {
    const VecProduct& p = products[i];
    if (jobs.n == kMaxJobs) {
      DispatchType(products[0].w.type,
                   GroupLauncher{jobs, products[0].w.cols, products[0].x.rows, stream});
      jobs = VecJobs{};
    }
    jobs.job[jobs.n++] = Job(p.w, p.x, p.y, p.act, p.accumulate, p.aux, p.aux_stride);
  }
  DispatchType(products[0].w.type,
               GroupLauncher{jobs, products[0].w.cols, products[0].x.rows, stream});
}

}  // namespace rwkv::engine::cuda
