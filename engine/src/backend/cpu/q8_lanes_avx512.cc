// The AVX-512 VNNI lane GEMM (kernels.h, GemmQ8LanesFn): up to kQ8LaneRows unpacked weight
// rows × kQ8Lanes interleaved Q8 columns. Per block, each row's eight weight quads are
// broadcast against the eight interleaved activation vectors (each loaded once for all rows),
// the int32 sums start from the columns' offset correction, and one conversion, one multiply
// by the columns' scales and one FMA by the row's scale fold the block into the row's f32
// accumulator.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backend/cpu/kernels.h"

#define RWKV_X86_NAMESPACE avx512
#include "backend/cpu/simd_avx2.h"

// GCC 12's own AVX-512 intrinsics trip its uninitialized-value analysis.
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace rwkv::engine::cpu::avx512 {
namespace {

inline int32_t LoadQuad(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

template <int R, bool kMin>
void LaneTile(const uint8_t* u, const float* scale, const float* min, int64_t k,
              const Q8LaneGroup& x, float* out, const uint8_t* fetch, int64_t fetch_bytes) {
  const int64_t nb = k / kQ8Block;
  const int64_t lines_per_block = (fetch_bytes + 64 * nb - 1) / (64 * nb);
  const uint8_t* const fetch_end = fetch + fetch_bytes;
  __m512 acc[R];
  Unroll<R>([&](auto r) { acc[r] = _mm512_setzero_ps(); });
  for (int64_t b = 0; b < nb; ++b) {
    for (int64_t i = 0; i < lines_per_block && fetch < fetch_end; ++i, fetch += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(fetch), _MM_HINT_T0);
    }
    const __m512i init = _mm512_loadu_si512(x.init + b * kQ8Lanes);
    __m512i sum[R];
    Unroll<R>([&](auto r) { sum[r] = init; });
    const int8_t* xq = x.q + b * kQ8Block * kQ8Lanes;
    const uint8_t* ub = u + b * kQ8Block;
    Unroll<kQ8Block / 4>([&](auto g) {
      const __m512i xv = _mm512_loadu_si512(xq + g * 4 * kQ8Lanes);
      Unroll<R>([&](auto r) {
        const __m512i w = _mm512_set1_epi32(LoadQuad(ub + r * k + g * 4));
        sum[r] = _mm512_dpbusd_epi32(sum[r], w, xv);
      });
    });
    const __m512 xd = _mm512_loadu_ps(x.d + b * kQ8Lanes);
    Unroll<R>([&](auto r) {
      const __m512 p = _mm512_mul_ps(_mm512_cvtepi32_ps(sum[r]), xd);
      acc[r] = _mm512_fmadd_ps(p, _mm512_set1_ps(scale[r * nb + b]), acc[r]);
    });
    if constexpr (kMin) {
      const __m512 xs = _mm512_loadu_ps(x.s + b * kQ8Lanes);
      Unroll<R>(
          [&](auto r) { acc[r] = _mm512_fmadd_ps(xs, _mm512_set1_ps(min[r * nb + b]), acc[r]); });
    }
  }
  Unroll<R>([&](auto r) { _mm512_storeu_ps(out + r * kQ8Lanes, acc[r]); });
}

void GemmQ8Lanes(const uint8_t* u, const float* scale, const float* min, int n_rows, int64_t k,
                 const Q8LaneGroup& x, float* out, const uint8_t* fetch, int64_t fetch_bytes) {
  WithColumns<kQ8LaneRows>(n_rows, [&](auto n) {
    constexpr int kRows = decltype(n)::value;
    if (min != nullptr) {
      LaneTile<kRows, true>(u, scale, min, k, x, out, fetch, fetch_bytes);
    } else {
      LaneTile<kRows, false>(u, scale, min, k, x, out, fetch, fetch_bytes);
    }
  });
}

}  // namespace
}  // namespace rwkv::engine::cpu::avx512

namespace rwkv::engine::cpu {

void FillAvx512Q8Lanes(KernelTable& t) {
  t.gemm_q8_lanes = &avx512::GemmQ8Lanes;
  t.q8_lanes_min_cols = 12;
}

}  // namespace rwkv::engine::cpu
