// AVX2 8-bit products (Precision::kFast): the Q8 activation quantizer, and the products of
// q8_dot_avx2.h with vpmaddubsw + vpmaddwd.
#include <immintrin.h>

#include <cstdint>

#include "backend/cpu/kernels.h"
#include "backend/cpu/q8_dot_avx2.h"
#include "backend/cpu/simd_avx2.h"

namespace rwkv::engine::cpu {
namespace {

void QuantizeQ8Avx2(const float* x, int64_t k, int8_t* q, float* d, float* s) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < k / kQ8Block; ++b) {
    const float* xb = x + b * kQ8Block;
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(xb + 8 * i);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[i]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float db = _mm_cvtss_f32(m) / 127.0f;
    const __m256 id = _mm256_set1_ps(db != 0.0f ? 1.0f / db : 0.0f);
    __m256i qi[4];
    __m256i sum = _mm256_setzero_si256();
    for (int i = 0; i < 4; ++i) {
      qi[i] = _mm256_cvtps_epi32(
          _mm256_round_ps(_mm256_mul_ps(v[i], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      sum = _mm256_add_epi32(sum, qi[i]);
    }
    // Pack 32 int32 to 32 int8 in element order (the packs interleave 128-bit lanes).
    const __m256i p16a = _mm256_packs_epi32(qi[0], qi[1]);
    const __m256i p16b = _mm256_packs_epi32(qi[2], qi[3]);
    const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * kQ8Block),
                        _mm256_permutevar8x32_epi32(p8, order));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    d[b] = db;
    s[b] = db * static_cast<float>(_mm_cvtsi128_si32(s4));
  }
}

}  // namespace

void FillAvx2Q8Kernels(KernelTable& t) {
  avx2::q8dot::SetDotQ8(t);
  t.quantize_q8 = &QuantizeQ8Avx2;
  // kernels_bench BM_GemmFast vs BM_Gemm (one thread, 2048 × 2048, CPU time): the 8-bit
  // products are 1.3-1.4x faster at 16 columns, even at 64, and up to 1.35x slower than the
  // f32 GEMM's two FMAs per cycle at 512 (vpmaddubsw + vpmaddwd + convert + FMA per block).
  t.q8_gemm_cols = 64;
}

}  // namespace rwkv::engine::cpu
