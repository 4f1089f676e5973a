// AVX2 GEMM pieces: dequantization of weight-row ranges to f32 (reusing the block
// unpackers) and the 3×4 f32 FMA tile.
#include <immintrin.h>

#include "backend/cpu/kernels.h"
#include "backend/cpu/simd_avx2.h"
#include "backend/cpu/unpack_avx2.h"

namespace rwkv::engine::cpu {
namespace {

using namespace avx2;  // NOLINT: the unpackers and loaders of this ISA

inline void StoreScaled(__m256i q16, __m256 scale, __m256 min, float* out) {
  const __m256 a = _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(q16)));
  const __m256 b = _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm256_extracti128_si256(q16, 1)));
  _mm256_storeu_ps(out, _mm256_fmadd_ps(a, scale, min));
  _mm256_storeu_ps(out + 8, _mm256_fmadd_ps(b, scale, min));
}

template <class U>
void DequantQuantized(const uint8_t* row, int64_t k0, int64_t count, float* out) {
  constexpr int64_t kSuper = 32 * U::kBlocks;
  for (int64_t sbi = k0 / kSuper; sbi < (k0 + count) / kSuper; ++sbi) {
    const uint8_t* sb = row + sbi * U::kBytes;
    typename U::Ctx ctx;
    U::Super(sb, ctx);
    for (int j = 0; j < U::kBlocks; ++j, out += 32) {
      __m256i lo, hi;
      float scale, min = 0.0f;
      U::Block(sb, ctx, j, &lo, &hi, &scale, &min);
      const __m256 vs = _mm256_set1_ps(scale), vm = _mm256_set1_ps(min);
      StoreScaled(lo, vs, vm, out);
      StoreScaled(hi, vs, vm, out + 16);
    }
  }
}

template <class L>
void DequantFloat(const uint8_t* row, int64_t k0, int64_t count, float* out) {
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) _mm256_storeu_ps(out + i, L::Load(row + (k0 + i) * L::kBytes));
  for (; i < count; ++i) out[i] = L::Scalar(row + (k0 + i) * L::kBytes);
}

template <int NR, int NC>
void GemmTileN(const float* w, int64_t ws, const float* const* x, int64_t k, float* out) {
  __m256 acc[NR][NC];
  for (int r = 0; r < NR; ++r) {
    for (int c = 0; c < NC; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    __m256 wv[NR];
    for (int r = 0; r < NR; ++r) wv[r] = _mm256_loadu_ps(w + r * ws + i);
    for (int c = 0; c < NC; ++c) {
      const __m256 xv = _mm256_loadu_ps(x[c] + i);
      for (int r = 0; r < NR; ++r) acc[r][c] = _mm256_fmadd_ps(wv[r], xv, acc[r][c]);
    }
  }
  for (int r = 0; r < NR; ++r) {
    for (int c = 0; c < NC; ++c) {
      float sum = HorizontalSum(acc[r][c]);
      for (int64_t j = i; j < k; ++j) sum += w[r * ws + j] * x[c][j];
      out[r * NC + c] = sum;
    }
  }
}

template <int NR>
void GemmTileRows(const float* w, int64_t ws, const float* const* x, int nc, int64_t k,
                  float* out) {
  switch (nc) {
    case 1:
      return GemmTileN<NR, 1>(w, ws, x, k, out);
    case 2:
      return GemmTileN<NR, 2>(w, ws, x, k, out);
    case 3:
      return GemmTileN<NR, 3>(w, ws, x, k, out);
    default:
      return GemmTileN<NR, 4>(w, ws, x, k, out);
  }
}

void GemmTile(const float* w, int64_t ws, int nr, const float* const* x, int nc, int64_t k,
              float* out) {
  switch (nr) {
    case 1:
      return GemmTileRows<1>(w, ws, x, nc, k, out);
    case 2:
      return GemmTileRows<2>(w, ws, x, nc, k, out);
    default:
      return GemmTileRows<3>(w, ws, x, nc, k, out);
  }
}

template <GgmlType kType>
void Set(KernelTable& t, DequantRangeFn fn, int min_cols) {
  t.types[static_cast<uint32_t>(kType)].dequant = fn;
  t.types[static_cast<uint32_t>(kType)].gemm_min_cols = min_cols;
}

// Column counts from which the GEMM beats the dot kernels (which unpack each weight block
// once per four columns), from kernels_bench BM_DotCols vs BM_Gemm at 4/16/128 columns:
// Q8_0's unpack is nearly free, so its dot kernel wins up to ~32 columns; the K-quants'
// unpack is the costliest, so the GEMM wins from ~8; the rest cross near 16.
constexpr int kCrossQ8 = 32, kCrossK = 8, kCrossOther = 16;

}  // namespace

void FillAvx2Gemm(KernelTable& t) {
  Set<GgmlType::kF32>(t, &DequantFloat<LoadF32>, kCrossOther);
  Set<GgmlType::kF16>(t, &DequantFloat<LoadF16>, kCrossOther);
  Set<GgmlType::kBF16>(t, &DequantFloat<LoadBF16>, kCrossOther);
  Set<GgmlType::kQ8_0>(t, &DequantQuantized<UnpackQ8_0>, kCrossQ8);
  Set<GgmlType::kQ4_0>(t, &DequantQuantized<UnpackQ4_0>, kCrossOther);
  Set<GgmlType::kQ4_1>(t, &DequantQuantized<UnpackQ4_1>, kCrossOther);
  Set<GgmlType::kQ5_0>(t, &DequantQuantized<UnpackQ5_0>, kCrossOther);
  Set<GgmlType::kQ5_1>(t, &DequantQuantized<UnpackQ5_1>, kCrossOther);
  Set<GgmlType::kQ4_K>(t, &DequantQuantized<UnpackQ4_K>, kCrossK);
  Set<GgmlType::kQ5_K>(t, &DequantQuantized<UnpackQ5_K>, kCrossK);
  Set<GgmlType::kQ6_K>(t, &DequantQuantized<UnpackQ6_K>, kCrossK);
  t.gemm_tile = &GemmTile;
}

}  // namespace rwkv::engine::cpu
