// AVX2 + FMA versions of the legacy reference quantizers, byte-identical to quant_legacy.cc
// in both FmaModes: the same f32 operations per element (vfmadd is the fused multiply-add the
// scalar code gets from fmaf, vmul + vadd its two roundings; the module builds with
// -ffp-contract=off, so those are never contracted; truncation and the half-away rounding are
// emulated exactly),
// and the block statistics (min, max, signed absolute max) are found lane-wise with the
// scalar code's strict comparisons. The one case where lanes could pick a different value
// than the sequential scan, a zero of the other sign, falls back to the scalar scan.
#include "quant/quant_legacy_avx2.h"

#include <immintrin.h>

#include <cfloat>
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/quant_legacy.h"
#include "rwkv/engine/fp16.h"

namespace rwkv::engine::quant {
namespace {

constexpr int kVecs = kQK / 8;

struct Block32 {
  __m256 v[kVecs];
  explicit Block32(const float* x) {
    for (int i = 0; i < kVecs; ++i) v[i] = _mm256_loadu_ps(x + 8 * i);
  }
};

// Lane-wise `if (x < lo) lo = x; if (x > hi) hi = x;`, then across lanes the same way.
void MinMax(const float* x, const Block32& b, float* mn, float* mx) {
  __m256 lo = _mm256_set1_ps(FLT_MAX), hi = _mm256_set1_ps(-FLT_MAX);
  for (const __m256& v : b.v) {
    lo = _mm256_blendv_ps(lo, v, _mm256_cmp_ps(v, lo, _CMP_LT_OQ));
    hi = _mm256_blendv_ps(hi, v, _mm256_cmp_ps(v, hi, _CMP_GT_OQ));
  }
  alignas(32) float l[8], h[8];
  _mm256_store_ps(l, lo);
  _mm256_store_ps(h, hi);
  float a = FLT_MAX, c = -FLT_MAX;
  for (int i = 0; i < 8; ++i) {
    if (l[i] < a) a = l[i];
    if (h[i] > c) c = h[i];
  }
  if (a == 0.0f || c == 0.0f) {  // which zero the scan meets first decides the sign
    a = FLT_MAX;
    c = -FLT_MAX;
    for (int j = 0; j < kQK; ++j) {
      if (x[j] < a) a = x[j];
      if (x[j] > c) c = x[j];
    }
  }
  *mn = a;
  *mx = c;
}

// The largest |x| lane-wise (strict `<`, so NaN never wins), across lanes the same way.
float AbsMax(const Block32& b) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 amax = _mm256_setzero_ps();
  for (const __m256& v : b.v) {
    const __m256 a = _mm256_andnot_ps(sign, v);
    amax = _mm256_blendv_ps(amax, a, _mm256_cmp_ps(amax, a, _CMP_LT_OQ));
  }
  alignas(32) float l[8];
  _mm256_store_ps(l, amax);
  float m = 0.0f;
  for (float v : l) {
    if (m < v) m = v;
  }
  return m;
}

// The first element of largest magnitude, sign kept (+0 when all are zero).
float SignedAbsMax(const float* x, const Block32& b) {
  const float amax = AbsMax(b);
  if (amax == 0.0f) return 0.0f;
  for (int j = 0; j < kQK; ++j) {
    if (std::fabs(x[j]) == amax) return x[j];
  }
  return 0.0f;
}

// TruncToInt lane-wise: truncation, 0 outside the int range (and for NaN).
inline __m256i Trunc(__m256 v) {
  const __m256 in_range =
      _mm256_and_ps(_mm256_cmp_ps(v, _mm256_set1_ps(-2147483648.0f), _CMP_GT_OQ),
                    _mm256_cmp_ps(v, _mm256_set1_ps(2147483648.0f), _CMP_LT_OQ));
  return _mm256_and_si256(_mm256_cvttps_epi32(v), _mm256_castps_si256(in_range));
}

// Levels q = min(cap, TruncToInt((x − off)·id + add)) of the block's four vectors, the
// multiply-add rounded once (kFused) or twice (kUnfused).
template <bool kSubtract, FmaMode kMode>
void Levels(const Block32& b, float off, float id, float add, int cap, __m256i q[kVecs]) {
  const __m256 vid = _mm256_set1_ps(id), vadd = _mm256_set1_ps(add), voff = _mm256_set1_ps(off);
  const __m256i vcap = _mm256_set1_epi32(cap);
  for (int i = 0; i < kVecs; ++i) {
    const __m256 v = kSubtract ? _mm256_sub_ps(b.v[i], voff) : b.v[i];
    const __m256 level = kMode == FmaMode::kFused ? _mm256_fmadd_ps(v, vid, vadd)
                                                  : _mm256_add_ps(_mm256_mul_ps(v, vid), vadd);
    q[i] = _mm256_min_epi32(vcap, Trunc(level));
  }
}

// qs[j] = (q_j & 15) | (q_{j+16} & 15) << 4 for j < 16.
void PackNibbles(const __m256i q[kVecs], uint8_t* qs) {
  const __m256i m4 = _mm256_set1_epi32(0x0F);
  const __m256i a =
      _mm256_or_si256(_mm256_and_si256(q[0], m4), _mm256_slli_epi32(_mm256_and_si256(q[2], m4), 4));
  const __m256i b =
      _mm256_or_si256(_mm256_and_si256(q[1], m4), _mm256_slli_epi32(_mm256_and_si256(q[3], m4), 4));
  const __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
  const __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs), bytes);
}

// Bit j of the result is bit 4 of q_j.
uint32_t FifthBits(const __m256i q[kVecs]) {
  uint32_t bits = 0;
  for (int i = 0; i < kVecs; ++i) {
    const int m = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_slli_epi32(q[i], 27)));
    bits |= static_cast<uint32_t>(m) << (8 * i);
  }
  return bits;
}

}  // namespace

namespace {

// Q4_0 / Q5_0: d = (signed absolute max) / −(kLevels/2), q = min(kLevels − 1,
// trunc(x/d + kLevels/2 + 0.5)); Q5_0 also stores the fifth bits.
template <class Block, int kLevels, FmaMode kMode>
void QuantizeSymmetric(const float* x, void* y_out, int64_t n) {
  auto* y = static_cast<Block*>(y_out);
  constexpr float kHalf = static_cast<float>(kLevels / 2);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    const Block32 b(x);
    const float d = SignedAbsMax(x, b) / -kHalf;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    __m256i q[kVecs];
    Levels<false, kMode>(b, 0.0f, id, kHalf + 0.5f, kLevels - 1, q);
    PackNibbles(q, y[i].qs);
    if constexpr (kLevels == 32) {
      const uint32_t qh = FifthBits(q);
      std::memcpy(y[i].qh, &qh, sizeof(qh));
    }
  }
}

// Q4_1 / Q5_1: d = (max − min) / (kLevels − 1), m = min, q = min(kCap,
// trunc((x − min)/d + 0.5)); Q5_1 has no cap (finite input stays below 31.5) and stores the
// fifth bits.
template <class Block, int kLevels, int kCap, FmaMode kMode>
void QuantizeAsymmetric(const float* x, void* y_out, int64_t n) {
  auto* y = static_cast<Block*>(y_out);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    const Block32 b(x);
    float mn, mx;
    MinMax(x, b, &mn, &mx);
    const float d = (mx - mn) / static_cast<float>(kLevels - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    y[i].m = Fp32ToFp16(mn);
    __m256i q[kVecs];
    Levels<true, kMode>(b, mn, id, 0.5f, kCap, q);
    PackNibbles(q, y[i].qs);
    if constexpr (kLevels == 32) {
      const uint32_t qh = FifthBits(q);
      std::memcpy(y[i].qh, &qh, sizeof(qh));
    }
  }
}

// One instantiation per FmaMode, chosen once per row.
template <template <FmaMode> class Quantizer>
void WithMode(FmaMode fma, const float* x, void* y, int64_t n) {
  if (fma == FmaMode::kFused) {
    Quantizer<FmaMode::kFused>::Run(x, y, n);
  } else {
    Quantizer<FmaMode::kUnfused>::Run(x, y, n);
  }
}

template <FmaMode kMode>
struct Q4_0 {
  static void Run(const float* x, void* y, int64_t n) {
    QuantizeSymmetric<BlockQ4_0, 16, kMode>(x, y, n);
  }
};
template <FmaMode kMode>
struct Q5_0 {
  static void Run(const float* x, void* y, int64_t n) {
    QuantizeSymmetric<BlockQ5_0, 32, kMode>(x, y, n);
  }
};
template <FmaMode kMode>
struct Q4_1 {
  static void Run(const float* x, void* y, int64_t n) {
    QuantizeAsymmetric<BlockQ4_1, 16, 15, kMode>(x, y, n);
  }
};
template <FmaMode kMode>
struct Q5_1 {
  static void Run(const float* x, void* y, int64_t n) {
    QuantizeAsymmetric<BlockQ5_1, 32, 0x7FFFFFFF, kMode>(x, y, n);
  }
};

}  // namespace

void QuantizeRowQ4_0Avx2(const float* x, void* y, int64_t n, FmaMode fma) {
  WithMode<Q4_0>(fma, x, y, n);
}

void QuantizeRowQ5_0Avx2(const float* x, void* y, int64_t n, FmaMode fma) {
  WithMode<Q5_0>(fma, x, y, n);
}

void QuantizeRowQ4_1Avx2(const float* x, void* y, int64_t n, FmaMode fma) {
  WithMode<Q4_1>(fma, x, y, n);
}

void QuantizeRowQ5_1Avx2(const float* x, void* y, int64_t n, FmaMode fma) {
  WithMode<Q5_1>(fma, x, y, n);
}

void QuantizeRowQ8_0Avx2(const float* x, void* y_out, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(y_out);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    const Block32 b(x);
    const float d = AbsMax(b) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[kVecs];
    for (int k = 0; k < kVecs; ++k) {
      // RoundHalfAwayToInt: t = trunc(v), then ±1 when the exact remainder reaches ±0.5.
      const __m256 v = _mm256_mul_ps(b.v[k], vid);
      const __m256i t = Trunc(v);
      const __m256 frac = _mm256_sub_ps(v, _mm256_cvtepi32_ps(t));
      const __m256i up = _mm256_castps_si256(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ));
      const __m256i down =
          _mm256_castps_si256(_mm256_cmp_ps(frac, _mm256_set1_ps(-0.5f), _CMP_LE_OQ));
      q[k] = _mm256_add_epi32(_mm256_sub_epi32(t, up), down);  // masks are -1
    }
    // int32 -> int8 with wrap-around, as the scalar static_cast<int8_t>.
    const __m256i bytes_mask = _mm256_set1_epi32(0xFF);
    const __m256i ab =
        _mm256_packus_epi32(_mm256_and_si256(q[0], bytes_mask), _mm256_and_si256(q[1], bytes_mask));
    const __m256i cd =
        _mm256_packus_epi32(_mm256_and_si256(q[2], bytes_mask), _mm256_and_si256(q[3], bytes_mask));
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi16(ab, cd), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[i].qs), _mm256_shuffle_epi32(w, 0xD8));
  }
}

}  // namespace rwkv::engine::quant
