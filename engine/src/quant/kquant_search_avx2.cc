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
    const __m256 better = _mm256_and_ps(
        _mm256_cmp_ps(suml2, _mm256_setzero_ps(), _CMP_GT_OQ),
        _mm256_cmp_ps(_mm256_mul_ps(sumlx, sumlx), _mm256_mul_ps(best, suml2), _CMP_GT_OQ));
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
    _mm256_store_si256(
        reinterpret_cast<__m256i*>(v),
        _mm256_and_si256(_mm256_add_epi32(best_l[i], offset), _mm256_castps_si256(active)));
    for (int g = 0; g < kLanes; ++g) L[kGroup * g + i] = static_cast<int8_t>(v[g]);
  }
}

}  // namespace rwkv::engine::quant

namespace rwkv::engine::quant {
namespace {

constexpr int kGroup32 = 32;

// NearestInt lane-wise, then clamped to [0, nmax] (make_qkx2_quants' levels).
inline __m256i LevelsUnsigned(__m256 v, __m256i nmax) {
  return _mm256_max_epi32(_mm256_setzero_si256(),
                          QuantizeLanes(v, _mm256_set1_epi32(INT32_MIN), nmax));
}

}  // namespace

void MakeQkx2Quants32x8Avx2(int nmax, const float* x, const float* weights, uint8_t* L,
                            float* the_min, float* scales, float rmin, float rdelta, int nstep) {
  __m256 xt[kGroup32], wt[kGroup32];
  const __m256i rows = _mm256_setr_epi32(0, 32, 64, 96, 128, 160, 192, 224);
  for (int i = 0; i < kGroup32; ++i) {
    xt[i] = _mm256_i32gather_ps(x + i, rows, 4);
    wt[i] = _mm256_i32gather_ps(weights + i, rows, 4);
  }
  __m256 min = xt[0], max = xt[0];
  __m256 sum_w = wt[0];
  __m256 sum_x = _mm256_mul_ps(sum_w, xt[0]);
  for (int i = 1; i < kGroup32; ++i) {
    min = _mm256_blendv_ps(min, xt[i], _mm256_cmp_ps(xt[i], min, _CMP_LT_OQ));
    max = _mm256_blendv_ps(max, xt[i], _mm256_cmp_ps(xt[i], max, _CMP_GT_OQ));
    sum_w = _mm256_add_ps(sum_w, wt[i]);
    sum_x = _mm256_add_ps(sum_x, _mm256_mul_ps(wt[i], xt[i]));
  }
  const __m256 zero = _mm256_setzero_ps();
  min = _mm256_blendv_ps(min, zero, _mm256_cmp_ps(min, zero, _CMP_GT_OQ));
  // Lanes with max == min return at once in the scalar code: scale 0, levels 0.
  const __m256 flat = _mm256_cmp_ps(max, min, _CMP_EQ_OQ);
  const __m256 first_min = min;
  const __m256i vnmax = _mm256_set1_epi32(nmax);
  const __m256 fnmax = _mm256_set1_ps(static_cast<float>(nmax));

  __m256 range = _mm256_sub_ps(max, min);
  __m256 iscale = _mm256_div_ps(fnmax, range);
  __m256 scale = _mm256_div_ps(_mm256_set1_ps(1.0f), iscale);
  __m256 best_error = zero;
  __m256i best_l[kGroup32];
  for (int i = 0; i < kGroup32; ++i) {
    best_l[i] = LevelsUnsigned(_mm256_mul_ps(iscale, _mm256_sub_ps(xt[i], min)), vnmax);
    __m256 diff = _mm256_sub_ps(
        _mm256_add_ps(_mm256_mul_ps(scale, _mm256_cvtepi32_ps(best_l[i])), min), xt[i]);
    diff = _mm256_mul_ps(diff, diff);
    best_error = _mm256_add_ps(best_error, _mm256_mul_ps(wt[i], diff));
  }
  for (int is = 0; nstep >= 1 && is <= nstep; ++is) {
    const float step = rmin + rdelta * static_cast<float>(is);
    iscale = _mm256_div_ps(_mm256_add_ps(_mm256_set1_ps(step), fnmax), _mm256_sub_ps(max, min));
    __m256 sum_l = zero, sum_l2 = zero, sum_xl = zero;
    __m256i laux[kGroup32];
    for (int i = 0; i < kGroup32; ++i) {
      laux[i] = LevelsUnsigned(_mm256_mul_ps(iscale, _mm256_sub_ps(xt[i], min)), vnmax);
      const __m256 lf = _mm256_cvtepi32_ps(laux[i]);
      const __m256 wl = _mm256_mul_ps(wt[i], lf);
      sum_l = _mm256_add_ps(sum_l, wl);
      sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, lf));
      sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, xt[i]));
    }
    const __m256 D = _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_l2), _mm256_mul_ps(sum_l, sum_l));
    const __m256 solvable = _mm256_cmp_ps(D, zero, _CMP_GT_OQ);
    if (_mm256_movemask_ps(solvable) == 0) continue;
    __m256 this_scale =
        _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_w, sum_xl), _mm256_mul_ps(sum_x, sum_l)), D);
    __m256 this_min =
        _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_l2, sum_x), _mm256_mul_ps(sum_l, sum_xl)), D);
    const __m256 positive = _mm256_cmp_ps(this_min, zero, _CMP_GT_OQ);
    this_min = _mm256_blendv_ps(this_min, zero, positive);
    this_scale = _mm256_blendv_ps(this_scale, _mm256_div_ps(sum_xl, sum_l2), positive);
    __m256 error = zero;
    for (int i = 0; i < kGroup32; ++i) {
      __m256 diff = _mm256_sub_ps(
          _mm256_add_ps(_mm256_mul_ps(this_scale, _mm256_cvtepi32_ps(laux[i])), this_min), xt[i]);
      diff = _mm256_mul_ps(diff, diff);
      error = _mm256_add_ps(error, _mm256_mul_ps(wt[i], diff));
    }
    const __m256 better = _mm256_and_ps(solvable, _mm256_cmp_ps(error, best_error, _CMP_LT_OQ));
    if (_mm256_movemask_ps(better) == 0) continue;
    const __m256i take = _mm256_castps_si256(better);
    for (int i = 0; i < kGroup32; ++i) best_l[i] = _mm256_blendv_epi8(best_l[i], laux[i], take);
    best_error = _mm256_blendv_ps(best_error, error, better);
    scale = _mm256_blendv_ps(scale, this_scale, better);
    min = _mm256_blendv_ps(min, this_min, better);
  }
  const __m256 sign = _mm256_set1_ps(-0.0f);
  min = _mm256_blendv_ps(min, first_min, flat);
  _mm256_storeu_ps(the_min, _mm256_xor_ps(min, sign));
  _mm256_storeu_ps(scales, _mm256_andnot_ps(flat, scale));
  const __m256i keep =
      _mm256_castps_si256(_mm256_xor_ps(flat, _mm256_castsi256_ps(_mm256_set1_epi32(-1))));
  for (int i = 0; i < kGroup32; ++i) {
    alignas(32) int32_t v[kLanes];
    _mm256_store_si256(reinterpret_cast<__m256i*>(v), _mm256_and_si256(best_l[i], keep));
    for (int g = 0; g < kLanes; ++g) L[kGroup32 * g + i] = static_cast<uint8_t>(v[g]);
  }
}

}  // namespace rwkv::engine::quant
