#include "backend/cpu/matmul.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/q8_lanes.h"

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

// dst[i] (+)= epilogue(src[i]) for i < count, the epilogue chosen once per run.
void StoreRun(const KernelTable& kernels, Epilogue epilogue, bool accumulate, const float* src,
              int64_t count, float* dst) {
  if (epilogue != Epilogue::kNone && kernels.epilogue_run != nullptr) {
    return kernels.epilogue_run(epilogue, accumulate, src, count, dst);
  }
  if (epilogue == Epilogue::kNone) {
    if (accumulate) {
      for (int64_t i = 0; i < count; ++i) dst[i] += src[i];
    } else {
      std::copy(src, src + count, dst);
    }
    return;
  }
  for (int64_t i = 0; i < count; ++i) {
    const float v = ApplyEpilogue(epilogue, src[i]);
    dst[i] = accumulate ? dst[i] + v : v;
  }
}

// GEMM blocking: a task owns kGemmPanelRows weight rows; it dequantizes them kGemmChunk
// elements at a time and packs them into a 16 KB panel that stays in L1 while every column
// tile passes over it; the 16 rows' sums for all columns accumulate in `acc` (n × 64 bytes).
constexpr int64_t kGemmChunk = 256;  // a multiple of every block size (256 for K-quants)

void Gemm(ThreadPool& pool, const KernelTable& kernels, const backend::WeightView& w,
          const float* x, int64_t x_stride, int64_t n, float* y, int64_t y_stride,
          Epilogue epilogue, bool accumulate) {
  const TypeKernels& tk = kernels.For(w.type);
  const int64_t k = w.cols;
  const auto* base = static_cast<const uint8_t*>(w.data);
  constexpr int64_t kR = kGemmPanelRows;
  const int64_t n_blocks = (w.rows + kR - 1) / kR;
  pool.ParallelFor(n_blocks, Grain(pool, n_blocks), [&](int64_t bb, int64_t be) {
    // Locals, not captures: the compiler cannot keep a captured flag in a register across
    // the float stores.
    const Epilogue epi = epilogue;
    const bool add = accumulate;
    thread_local std::vector<float> rows, panel, acc;
    const int64_t kc_max = std::min(k, kGemmChunk);
    rows.resize(static_cast<size_t>(kR * kc_max));
    panel.resize(static_cast<size_t>(kR * kc_max));
    acc.resize(static_cast<size_t>(kR * n));
    for (int64_t blk = bb; blk < be; ++blk) {
      const int64_t r0 = blk * kR;
      const int nr = static_cast<int>(std::min(w.rows - r0, kR));
      std::fill(acc.begin(), acc.begin() + kR * n, 0.0f);
      for (int64_t k0 = 0; k0 < k; k0 += kGemmChunk) {
        const int64_t kc = std::min(kGemmChunk, k - k0);
        for (int r = 0; r < nr; ++r) {
          tk.dequant(base + (r0 + r) * w.row_bytes, k0, kc, rows.data() + r * kc);
        }
        kernels.pack_panel(rows.data(), kc, nr, panel.data());
        for (int64_t c0 = 0; c0 < n; c0 += kGemmPanelCols) {
          const int nc = static_cast<int>(std::min<int64_t>(kGemmPanelCols, n - c0));
          const float* xp[kGemmPanelCols];
          for (int c = 0; c < nc; ++c) xp[c] = x + (c0 + c) * x_stride + k0;
          kernels.gemm_panel(panel.data(), kc, xp, nc, acc.data() + c0 * kR);
        }
      }
      for (int64_t c = 0; c < n; ++c) {
        StoreRun(kernels, epi, add, acc.data() + c * kR, nr, y + c * y_stride + r0);
      }
    }
  });
}

// Precision::kFast on many columns: the Q8 columns (in scratch) interleaved kQ8Lanes at a
// time, then a task unpacks kRowBlock weight rows once and runs the lane GEMM over every
// column group, kQ8LaneRows rows per call.
void MatMulQ8Lanes(ThreadPool& pool, const KernelTable& kernels, const backend::WeightView& w,
                   int64_t n, float* y, int64_t y_stride, Epilogue epilogue, bool accumulate,
                   MatMulScratch& scratch) {
  const TypeKernels& tk = kernels.For(w.type);
  const int64_t k = w.cols;
  const int64_t nb = k / kQ8Block;
  const int64_t groups = (n + kQ8Lanes - 1) / kQ8Lanes;
  const int64_t per_group = Q8LaneBlockValues(k);
  scratch.lane_q.resize(static_cast<size_t>(groups * Q8LaneQBytes(k)));
  scratch.lane_init.resize(static_cast<size_t>(groups * per_group));
  scratch.lane_d.resize(static_cast<size_t>(groups * per_group));
  scratch.lane_s.resize(static_cast<size_t>(groups * per_group));
  pool.ParallelFor(groups, 1, [&](int64_t gb, int64_t ge) {
    for (int64_t g = gb; g < ge; ++g) {
      const int64_t c0 = g * kQ8Lanes;
      const int nc = static_cast<int>(std::min<int64_t>(kQ8Lanes, n - c0));
      Q8View cols[kQ8Lanes];
      for (int c = 0; c < nc; ++c) {
        cols[c] = Q8View{scratch.q8.data() + (c0 + c) * k, scratch.d.data() + (c0 + c) * nb,
                         scratch.s.data() + (c0 + c) * nb};
      }
      InterleaveQ8(cols, nc, k, tk.q8_offset, scratch.lane_q.data() + g * Q8LaneQBytes(k),
                   scratch.lane_init.data() + g * per_group, scratch.lane_d.data() + g * per_group,
                   scratch.lane_s.data() + g * per_group);
    }
  });
  const auto* base = static_cast<const uint8_t*>(w.data);
  const int64_t n_blocks = (w.rows + kRowBlock - 1) / kRowBlock;
  pool.ParallelFor(n_blocks, Grain(pool, n_blocks), [&](int64_t bb, int64_t be) {
    const Epilogue epi = epilogue;
    const bool add = accumulate;
    thread_local std::vector<uint8_t> u;
    thread_local std::vector<float> scale, min;
    u.resize(static_cast<size_t>(kRowBlock * k));
    scale.resize(static_cast<size_t>(kRowBlock * nb));
    min.resize(static_cast<size_t>(kRowBlock * nb));
    const float* mins = tk.q8_offset != 0 ? nullptr : min.data();
    for (int64_t blk = bb; blk < be; ++blk) {
      const int64_t r0 = blk * kRowBlock;
      const int64_t nr = std::min(w.rows, r0 + kRowBlock) - r0;
      for (int64_t r = 0; r < nr; ++r) {
        tk.unpack_q8(base + (r0 + r) * w.row_bytes, k, u.data() + r * k, scale.data() + r * nb,
                     min.data() + r * nb);
      }
      // The first column group's products fetch the task's next block of rows, spread over
      // their blocks: with few column groups the products take about as long as reading the
      // weights from memory, and a burst of prefetches would stall the core instead.
      const int64_t next_rows = blk + 1 < be ? std::min(w.rows, r0 + 2 * kRowBlock) - r0 - nr : 0;
      for (int64_t g = 0; g < groups; ++g) {
        const Q8LaneGroup x{scratch.lane_q.data() + g * Q8LaneQBytes(k),
                            scratch.lane_init.data() + g * per_group,
                            scratch.lane_d.data() + g * per_group,
                            scratch.lane_s.data() + g * per_group};
        float out[kRowBlock * kQ8Lanes];
        for (int64_t r = 0; r < nr; r += kQ8LaneRows) {
          const int rows = static_cast<int>(std::min<int64_t>(kQ8LaneRows, nr - r));
          const int64_t fetch_rows = g == 0 ? std::clamp<int64_t>(next_rows - r, 0, rows) : 0;
          kernels.gemm_q8_lanes(u.data() + r * k, scale.data() + r * nb,
                                mins != nullptr ? mins + r * nb : nullptr, rows, k, x,
                                out + r * kQ8Lanes, base + (r0 + kRowBlock + r) * w.row_bytes,
                                fetch_rows * static_cast<int64_t>(w.row_bytes));
        }
        const int64_t c0 = g * kQ8Lanes;
        const int nc = static_cast<int>(std::min<int64_t>(kQ8Lanes, n - c0));
        float run[kRowBlock];
        for (int c = 0; c < nc; ++c) {
          for (int64_t r = 0; r < nr; ++r) run[r] = out[r * kQ8Lanes + c];
          StoreRun(kernels, epi, add, run, nr, y + (c0 + c) * y_stride + r0);
        }
      }
    }
  });
}

// Precision::kFast: every column quantized to Q8 once, then tiles of kRowBlock weight rows ×
// kMaxQ8Cols columns on the 8-bit dot kernel; a task's weight rows stay in L2 while all the
// column groups pass.
void MatMulQ8(ThreadPool& pool, const KernelTable& kernels, const backend::WeightView& w,
              const float* x, int64_t x_stride, int64_t n, float* y, int64_t y_stride,
              Epilogue epilogue, bool accumulate, MatMulScratch& scratch) {
  const TypeKernels& tk = kernels.For(w.type);
  const int64_t k = w.cols;
  const int64_t nb = k / kQ8Block;
  scratch.q8.resize(static_cast<size_t>(n * k));
  scratch.d.resize(static_cast<size_t>(n * nb));
  scratch.s.resize(static_cast<size_t>(n * nb));
  pool.ParallelFor(n, 8, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      kernels.quantize_q8(x + i * x_stride, k, scratch.q8.data() + i * k, scratch.d.data() + i * nb,
                          scratch.s.data() + i * nb);
    }
  });
  if (kernels.gemm_q8_lanes != nullptr && tk.unpack_q8 != nullptr &&
      n >= kernels.q8_lanes_min_cols) {
    return MatMulQ8Lanes(pool, kernels, w, n, y, y_stride, epilogue, accumulate, scratch);
  }
  const auto* base = static_cast<const uint8_t*>(w.data);
  const int64_t n_blocks = (w.rows + kRowBlock - 1) / kRowBlock;
  pool.ParallelFor(n_blocks, Grain(pool, n_blocks), [&](int64_t bb, int64_t be) {
    const Epilogue epi = epilogue;
    const bool add = accumulate;
    for (int64_t blk = bb; blk < be; ++blk) {
      const int64_t r0 = blk * kRowBlock;
      const int64_t nr = std::min(w.rows, r0 + kRowBlock) - r0;
      for (int64_t c0 = 0; c0 < n; c0 += kMaxQ8Cols) {
        const int nc = static_cast<int>(std::min<int64_t>(kMaxQ8Cols, n - c0));
        Q8View xq[kMaxQ8Cols];
        for (int c = 0; c < nc; ++c) {
          xq[c] = Q8View{scratch.q8.data() + (c0 + c) * k, scratch.d.data() + (c0 + c) * nb,
                         scratch.s.data() + (c0 + c) * nb};
        }
        float out[kRowBlock * kMaxQ8Cols];
        tk.dot_q8(base + r0 * w.row_bytes, w.row_bytes, nr, k, xq, nc, out);
        float runs[kMaxQ8Cols * kRowBlock];
        for (int64_t r = 0; r < nr; ++r) {
          for (int c = 0; c < nc; ++c) runs[c * kRowBlock + r] = out[r * nc + c];
        }
        for (int c = 0; c < nc; ++c) {
          StoreRun(kernels, epi, add, runs + c * kRowBlock, nr, y + (c0 + c) * y_stride + r0);
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
            Epilogue epilogue, bool accumulate, MatMulScratch& scratch, Precision precision) {
  if (n <= 0 || w.rows <= 0) return;
  const TypeKernels& tk = kernels.For(w.type);
  if (precision == Precision::kFast && tk.dot_q8 != nullptr && kernels.quantize_q8 != nullptr &&
      w.cols % kQ8Block == 0 && (kernels.q8_gemm_cols == 0 || n < kernels.q8_gemm_cols)) {
    return MatMulQ8(pool, kernels, w, x, x_stride, n, y, y_stride, epilogue, accumulate, scratch);
  }
  if (kernels.gemm_panel != nullptr && tk.dequant != nullptr && tk.gemm_min_cols > 0 &&
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
  static_assert(kMaxQ16Cols >= kMaxCols);
  const int64_t max_cols = q16 ? kMaxQ16Cols : kMaxCols;
  pool.ParallelFor(n_blocks, Grain(pool, n_blocks), [&](int64_t bb, int64_t be) {
    const Epilogue epi = epilogue;
    const bool add = accumulate;
    const int64_t nb = k / kQ16Block;
    for (int64_t blk = bb; blk < be; ++blk) {
      const int64_t r0 = blk * kRowBlock;
      const int64_t r1 = std::min(w.rows, r0 + kRowBlock);
      for (int64_t c0 = 0; c0 < n; c0 += max_cols) {
        const int nc = static_cast<int>(std::min<int64_t>(max_cols, n - c0));
        const float* xf[kMaxQ16Cols];
        Q16View xq[kMaxQ16Cols];
        for (int c = 0; c < nc; ++c) {
          if (q16) {
            xq[c] = Q16View{scratch.q.data() + (c0 + c) * k, scratch.d.data() + (c0 + c) * nb,
                            scratch.s.data() + (c0 + c) * nb};
          } else {
            xf[c] = x + (c0 + c) * x_stride;
          }
        }
        float out[kRowBlock * kMaxQ16Cols];
        const uint8_t* rows = base + r0 * w.row_bytes;
        if (q16) {
          tk.dot_q16(rows, w.row_bytes, r1 - r0, k, xq, nc, out);
        } else {
          tk.dot_f32(rows, w.row_bytes, r1 - r0, k, xf, nc, out);
        }
        // Transpose the tile to column-major runs, then store each run once.
        float runs[kMaxQ16Cols * kRowBlock];
        const int64_t nr = r1 - r0;
        for (int64_t r = 0; r < nr; ++r) {
          for (int c = 0; c < nc; ++c) runs[c * kRowBlock + r] = out[r * nc + c];
        }
        for (int c = 0; c < nc; ++c) {
          StoreRun(kernels, epi, add, runs + c * kRowBlock, nr, y + (c0 + c) * y_stride + r0);
        }
      }
    }
  });
}

}  // namespace rwkv::engine::cpu
