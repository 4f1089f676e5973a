#include "backend/cpu/q8_lanes.h"

#include <cstring>

namespace rwkv::engine::cpu {

void InterleaveQ8(const Q8View* cols, int n_cols, int64_t k, int offset, int8_t* q, int32_t* init,
                  float* d, float* s) {
  const int64_t nb = k / kQ8Block;
  constexpr int kQuads = kQ8Block / 4;
  for (int64_t b = 0; b < nb; ++b) {
    int8_t* qb = q + b * kQ8Block * kQ8Lanes;
    for (int c = 0; c < kQ8Lanes; ++c) {
      const int64_t lane = b * kQ8Lanes + c;
      if (c >= n_cols) {
        for (int g = 0; g < kQuads; ++g) std::memset(qb + (g * kQ8Lanes + c) * 4, 0, 4);
        init[lane] = 0;
        d[lane] = 0.0f;
        s[lane] = 0.0f;
        continue;
      }
      const int8_t* src = cols[c].q + b * kQ8Block;
      int32_t sum = 0;
      for (int i = 0; i < kQ8Block; ++i) sum += src[i];
      for (int g = 0; g < kQuads; ++g) std::memcpy(qb + (g * kQ8Lanes + c) * 4, src + 4 * g, 4);
      init[lane] = -offset * sum;
      d[lane] = cols[c].d[b];
      s[lane] = cols[c].s[b];
    }
  }
}

}  // namespace rwkv::engine::cpu
