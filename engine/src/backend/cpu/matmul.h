// Multi-threaded matrix product on the CPU: y[n][m] (+)= epilogue(Σ_k w[m][k]·x[n][k]),
// weights in any supported type read in place. Few columns run on the dot kernels (every
// weight row read once per group of kMaxCols f32 or kMaxQ16Cols Q16 columns), many columns
// on the packed-panel GEMM (from the type's gemm_min_cols).
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/thread_pool.h"

namespace rwkv::engine::cpu {

// Reusable Q16 / Q8 activation storage.
struct MatMulScratch {
  std::vector<int16_t> q;
  std::vector<float> d;
  std::vector<float> s;
  std::vector<int8_t> q8;
  // Q8 columns interleaved for the lane GEMM.
  std::vector<int8_t> lane_q;
  std::vector<int32_t> lane_init;
  std::vector<float> lane_d;
  std::vector<float> lane_s;
};

float ApplyEpilogue(backend::Epilogue epilogue, float v);

// x: n rows of w.cols floats, x_stride apart; y: n rows of w.rows floats, y_stride apart.
// Precision::kFast runs the types with a dot_q8 kernel on Q8 activations, for every column
// count below the table's q8_gemm_cols.
void MatMul(ThreadPool& pool, const KernelTable& kernels, const backend::WeightView& w,
            const float* x, int64_t x_stride, int64_t n, float* y, int64_t y_stride,
            backend::Epilogue epilogue, bool accumulate, MatMulScratch& scratch,
            Precision precision = Precision::kExact);

}  // namespace rwkv::engine::cpu
