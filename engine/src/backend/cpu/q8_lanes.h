// Interleaving of Q8 activation columns for the lane GEMM (kernels.h, GemmQ8LanesFn).
#pragma once

#include <cstdint>

#include "backend/cpu/kernels.h"

namespace rwkv::engine::cpu {

// Bytes, ints and floats one group of kQ8Lanes interleaved columns of k values takes.
inline int64_t Q8LaneQBytes(int64_t k) { return k * kQ8Lanes; }
inline int64_t Q8LaneBlockValues(int64_t k) { return k / kQ8Block * kQ8Lanes; }

// Interleaves n_cols (1..kQ8Lanes) Q8 columns of k values into one lane group; the lanes past
// n_cols are zero. init = -offset·Σq per column and block (offset: TypeKernels::q8_offset).
void InterleaveQ8(const Q8View* cols, int n_cols, int64_t k, int offset, int8_t* q, int32_t* init,
                  float* d, float* s);

}  // namespace rwkv::engine::cpu
