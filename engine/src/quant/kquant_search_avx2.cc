// make_qx_quants for eight 16-element groups at once, one group per AVX2 lane. Every lane
// performs exactly the scalar search's f32 operations in the scalar order (this module is
// built with -ffp-contract=off, and vector add/mul/div are IEEE), so scales and levels are
// bit-identical to MakeQxQuants; only independent groups run side by side.
#include <immintrin.h>

#include <cstdint>

#include "quant/kquant_search.h"

namespace rwkv::engine::quant {
namespace {

constexpr int kGroup = 16;
constexpr int kLanes = 8;

// NearestInt lane-wise, then clamped to [-nmax, nmax - 1] like the scalar `quantize`.
inline __m256i QuantizeLanes(__m256 v, __m256i lo, __m256i hi) {
  const __m256 vmax = _mm256_set1_ps(4194303.0f), vmin = _mm256_set1_ps(-4194303.0f);
  // std::clamp(v, vmin, vmax): v < vmin ? vmin : (vmax < v ? vmax : v).
  __m256 c = _mm256_blendv_ps(v, vmax, _mm256_cmp_ps(vmax, v, _CMP_LT_OQ));
  c = _mm256_blendv_ps(c, vmin, _mm256_cmp_ps(v, vmin, _CMP_LT_OQ));
  const __m256i bits = _mm256_castps_si256(_mm256_add_ps(c, _mm256_set1_ps(12582912.0f)));
  const __m256i l = _mm256_sub_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)),
                                     _mm256_set1_epi32(0x00400000));
  return _mm256_max_epi32(lo, _mm256_min_epi32(hi, l));
}

}  // namespace

void MakeQxQuants16x8Avx2(int nmax, const float* x, int8_t* L, float* scales) {
  __m256 xt[kGroup];  // lane g of xt[i] is x[16·g + i]
  const __m256i rows = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112);
  for (int i = 0; i < kGroup; ++i) xt[i] = _mm256_i32gather_ps(x + i, rows, 4);

  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 amax = _mm256_setzero_ps(), max = _mm256_setzero_ps();
  for (int i = 0; i < kGroup; ++i) {
    const __m256 ax = _mm256_andnot_ps(sign, xt[i]);
    const __m256 greater = _mm256_cmp_ps(ax, amax, _CMP_GT_OQ);
    amax = _mm256_blendv_ps(amax, ax, greater);
    max = _mm256_blendv_ps(max, xt[i], greater);
  }
  // Lanes whose group is all tiny keep scale 0 and levels 0, as the scalar early return.
  const __m256 active = _mm256_cmp_ps(amax, _mm256_set1_ps(1e-15f), _CMP_NLT_UQ);

  const __m256i lo = _mm256_set1_epi32(-nmax), hi = _mm256_set1_epi32(nmax - 1);
  const float fmax = static_cast<float>(nmax);
  __m256 w[kGroup], wx[kGroup];
  for (int i = 0; i < kGroup; ++i) {
    w[i] = _mm256_mul_ps(xt[i], xt[i]);
    wx[i] = _mm256_mul_ps(w[i], xt[i]);
  }
  __m256i best_l[kGroup];
  __m256 sumlx = _mm256_setzero_ps(), suml2 = _mm256_setzero_ps();
  __m256 iscale = _mm256_div_ps(_mm256_set1_ps(static_cast<float>(-nmax)), max);
  for (int i = 0; i < kGroup; ++i) {
    best_l[i] = QuantizeLanes(_mm256_mul_ps(iscale, xt[i]), lo, hi);
    const __m256 lf = _mm256_cvtepi32_ps(best_l[i]);
    sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(wx[i], lf));
    suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(w[i], lf), lf));
  }
  __m256 scale = _mm256_and_ps(_mm256_div_ps(sumlx, suml2),
                               _mm256_cmp_ps(suml2, _mm256_setzero_ps(), _CMP_NEQ_UQ));
  __m256 best = _mm256_mul_ps(scale, sumlx);
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const float numerator = -(fmax + 0.1f * static_cast<float>(is));
    iscale = _mm256_div_ps(_mm256_set1_ps(numerator), max);
    __m256i l[kGroup];
    sumlx = suml2 = _mm256_setzero_ps();
    for (int i = 0; i < kGroup; ++i) {
      l[i] = QuantizeLanes(_mm256_mul_ps(iscale, xt[i]), lo, hi);
      const __m256 lf = _mm256_cvtepi32_ps(l[i]);
      sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(wx[i], lf));
      suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(w[i], lf), lf));
    }
    const __m256 better =
        _mm256_and_ps(_mm256_cmp_ps(suml2, _mm256_setzero_ps(), _CMP_GT_OQ),
                      _mm256_cmp_ps(_mm256_mul_ps(sumlx, sumlx), _mm256_mul_ps(best, suml2),
                                    _CMP_GT_OQ));
    if (_mm256_movemask_ps(better) == 0) continue;
    const __m256i take = _mm256_castps_si256(better);
    for (int i = 0; i < kGroup; ++i) best_l[i] = _mm256_blendv_epi8(best_l[i], l[i], take);
    scale = _mm256_blendv_ps(scale, _mm256_div_ps(sumlx, suml2), better);
    best = _mm256_blendv_ps(best, _mm256_mul_ps(scale, sumlx), better);
  }
  scale = _mm256_and_ps(scale, active);
  _mm256_storeu_ps(scales, scale);
  const __m256i offset = _mm256_and_si256(_mm256_set1_epi32(nmax), _mm256_castps_si256(active));
  for (int i = 0; i < kGroup; ++i) {
    alignas(32) int32_t v[kLanes];
    _mm256_store_si256(reinterpret_cast<__m256i*>(v),
                       _mm256_and_si256(_mm256_add_epi32(best_l[i], offset),
                                        _mm256_castps_si256(active)));
    for (int g = 0; g < kLanes; ++g) L[kGroup * g + i] = static_cast<int8_t>(v[g]);
  }
}

}  // namespace rwkv::engine::quant
