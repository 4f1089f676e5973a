#include "backend/cpu/matmul.h"

#include <algorithm>
#include <cmath>

namespace rwkv::engine::cpu {
namespace {

using backend::Epilogue;

// Rows per task: enough to amortise the hand-out, small enough to balance two to sixteen
// threads on a 2048-row matrix, and a block that stays in L2 while the column tiles pass.
constexpr int64_t kRowBlock = 16;

// Blocks handed out per grab: about eight grabs per thread keep the threads balanced while
// a 65536-row head does not pay thousands of contended atomic increments.
int64_t Grain(const ThreadPool& pool, int64_t n_blocks) {
  return std::max<int64_t>(1, n_blocks / (8 * static_cast<int64_t>(pool.size())));
}

// GEMM blocking: a task dequantizes kGemmRowBlock weight rows kGemmChunk elements at a time
// (a 48 KB f32 panel that stays in L2) and multiplies them by every column; each column
// tile's kGemmChunk activations (8 KB) stay in L1 across the panel's row tiles.
constexpr int64_t kGemmRowBlock = 8 * kGemmRows;
constexpr int64_t kGemmChunk = 1024;  // a multiple of every block size (256 for K-quants)

void Gemm(ThreadPool& pool, const KernelTable& kernels, const backend::WeightView& w,
          const float* x, int64_t x_stride, int64_t n, float* y, int64_t y_stride,
          Epilogue epilogue, bool accumulate) {
  const TypeKernels& tk = kernels.For(w.type);
  const int64_t k = w.cols;
  const auto* base = static_cast<const uint8_t*>(w.data);
  const int64_t n_blocks = (w.rows + kGemmRowBlock - 1) / kGemmRowBlock;
  pool.ParallelFor(n_blocks, Grain(pool, n_blocks), [&](int64_t bb, int64_t be) {
    thread_local std::vector<float> panel, acc;
    panel.resize(static_cast<size_t>(kGemmRowBlock * std::min(k, kGemmChunk)));
    acc.resize(static_cast<size_t>(kGemmRowBlock * n));
    for (int64_t blk = bb; blk < be; ++blk) {
      const int64_t r0 = blk * kGemmRowBlock;
      const int64_t nr = std::min(w.rows - r0, kGemmRowBlock);
      std::fill(acc.begin(), acc.begin() + nr * n, 0.0f);
      for (int64_t k0 = 0; k0 < k; k0 += kGemmChunk) {
        const int64_t kc = std::min(kGemmChunk, k - k0);
        for (int64_t r = 0; r < nr; ++r) {
          tk.dequant(base + (r0 + r) * w.row_bytes, k0, kc, panel.data() + r * kc);
        }
        for (int64_t c0 = 0; c0 < n; c0 += kGemmCols) {
          const int nc = static_cast<int>(std::min<int64_t>(kGemmCols, n - c0));
          const float* xp[kGemmCols];
          for (int c = 0; c < nc; ++c) xp[c] = x + (c0 + c) * x_stride + k0;
          for (int64_t rt = 0; rt < nr; rt += kGemmRows) {
            const int nrt = static_cast<int>(std::min<int64_t>(kGemmRows, nr - rt));
            float out[kGemmRows * kGemmCols];
            kernels.gemm_tile(panel.data() + rt * kc, kc, nrt, xp, nc, kc, out);
            for (int r = 0; r < nrt; ++r) {
              for (int c = 0; c < nc; ++c) acc[(rt + r) * n + c0 + c] += out[r * nc + c];
            }
          }
        }
      }
      for (int64_t r = 0; r < nr; ++r) {
        for (int64_t c = 0; c < n; ++c) {
          float* dst = y + c * y_stride + r0 + r;
          const float v = ApplyEpilogue(epilogue, acc[r * n + c]);
          *dst = accumulate ? *dst + v : v;
        }
      }
    }
  });
}

}  // namespace

float ApplyEpilogue(Epilogue epilogue, float v) {
  switch (epilogue) {
    case Epilogue::kNone:
      return v;
    case Epilogue::kTanh:
      return std::tanh(v);
    case Epilogue::kSigmoid:
      return 1.0f / (1.0f + std::exp(-v));
    case Epilogue::kSilu:
      return v / (1.0f + std::exp(-v));
    case Epilogue::kReluSquare: {
      const float r = v > 0.0f ? v : 0.0f;
      return r * r;
    }
  }
  return v;
}

void MatMul(ThreadPool& pool, const KernelTable& kernels, const backend::WeightView& w,
            const float* x, int64_t x_stride, int64_t n, float* y, int64_t y_stride,
            Epilogue epilogue, bool accumulate, MatMulScratch& scratch) {
  if (n <= 0 || w.rows <= 0) return;
  const TypeKernels& tk = kernels.For(w.type);
  if (kernels.gemm_tile != nullptr && tk.dequant != nullptr && tk.gemm_min_cols > 0 &&
      n >= tk.gemm_min_cols) {
    return Gemm(pool, kernels, w, x, x_stride, n, y, y_stride, epilogue, accumulate);
  }
  const int64_t k = w.cols;
  const bool q16 = tk.act == ActFormat::kQ16;
  if (q16) {
    const int64_t nb = k / kQ16Block;
    scratch.q.resize(static_cast<size_t>(n * k));
    scratch.d.resize(static_cast<size_t>(n * nb));
    scratch.s.resize(static_cast<size_t>(n * nb));
    pool.ParallelFor(n, 8, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        kernels.quantize_q16(x + i * x_stride, k, scratch.q.data() + i * k,
                             scratch.d.data() + i * nb, scratch.s.data() + i * nb);
      }
    });
  }
  const auto* base = static_cast<const uint8_t*>(w.data);
  const int64_t n_blocks = (w.rows + kRowBlock - 1) / kRowBlock;
  pool.ParallelFor(n_blocks, Grain(pool, n_blocks), [&](int64_t bb, int64_t be) {
    const int64_t nb = k / kQ16Block;
    for (int64_t blk = bb; blk < be; ++blk) {
      const int64_t r0 = blk * kRowBlock;
      const int64_t r1 = std::min(w.rows, r0 + kRowBlock);
      for (int64_t c0 = 0; c0 < n; c0 += kMaxCols) {
        const int nc = static_cast<int>(std::min<int64_t>(kMaxCols, n - c0));
        const float* xf[kMaxCols];
        Q16View xq[kMaxCols];
        for (int c = 0; c < nc; ++c) {
          if (q16) {
            xq[c] = Q16View{scratch.q.data() + (c0 + c) * k, scratch.d.data() + (c0 + c) * nb,
                            scratch.s.data() + (c0 + c) * nb};
          } else {
            xf[c] = x + (c0 + c) * x_stride;
          }
        }
        float out[kRowBlock * kMaxCols];
        const uint8_t* rows = base + r0 * w.row_bytes;
        if (q16) {
          tk.dot_q16(rows, w.row_bytes, r1 - r0, k, xq, nc, out);
        } else {
          tk.dot_f32(rows, w.row_bytes, r1 - r0, k, xf, nc, out);
        }
        for (int64_t r = r0; r < r1; ++r) {
          for (int c = 0; c < nc; ++c) {
            float* dst = y + (c0 + c) * y_stride + r;
            const float v = ApplyEpilogue(epilogue, out[(r - r0) * nc + c]);
            *dst = accumulate ? *dst + v : v;
          }
        }
      }
    }
  });
}

}  // namespace rwkv::engine::cpu
