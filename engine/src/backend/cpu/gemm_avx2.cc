// AVX2 GEMM pieces: dequantization of weight-row ranges to f32 (reusing the block
// unpackers), the k-major panel packing and the 16-row × 6-column f32 FMA kernel.
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

// Transposes the 8×8 block at `in` (rows `stride` floats apart) into `out` (rows
// `out_stride` floats apart).
inline void Transpose8x8(const float* in, int64_t stride, float* out, int64_t out_stride) {
  __m256 r[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(in + i * stride);
  __m256 t[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  __m256 u[8];
  for (int i = 0; i < 2; ++i) {
    const int b = 4 * i;
    u[b] = _mm256_shuffle_ps(t[b], t[b + 2], 0x44);
    u[b + 1] = _mm256_shuffle_ps(t[b], t[b + 2], 0xEE);
    u[b + 2] = _mm256_shuffle_ps(t[b + 1], t[b + 3], 0x44);
    u[b + 3] = _mm256_shuffle_ps(t[b + 1], t[b + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(out + i * out_stride, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
    _mm256_storeu_ps(out + (i + 4) * out_stride, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
  }
}

void PackPanel(const float* rows, int64_t kc, int n_rows, float* panel) {
  constexpr int kR = kGemmPanelRows;
  int64_t i = 0;
  if (n_rows == kR) {
    for (; i + 8 <= kc; i += 8) {
      Transpose8x8(rows + i, kc, panel + i * kR, kR);
      Transpose8x8(rows + 8 * kc + i, kc, panel + i * kR + 8, kR);
    }
  }
  for (; i < kc; ++i) {
    for (int r = 0; r < kR; ++r) panel[i * kR + r] = r < n_rows ? rows[r * kc + i] : 0.0f;
  }
}

// One accumulator array, loops fully unrolled: with two arrays, or loops left rolled, the
// compiler kept the accumulators in memory and stored all twelve every k.
template <int NC>
void GemmPanelN(const float* panel, int64_t kc, const float* const* x, float* acc) {
  __m256 a[2 * NC];
#pragma GCC unroll 12
  for (int j = 0; j < 2 * NC; ++j) a[j] = _mm256_loadu_ps(acc + 8 * j);
  const float* xc[NC];
#pragma GCC unroll 6
  for (int c = 0; c < NC; ++c) xc[c] = x[c];
  for (int64_t i = 0; i < kc; ++i, panel += kGemmPanelRows) {
    const __m256 w0 = _mm256_loadu_ps(panel);
    const __m256 w1 = _mm256_loadu_ps(panel + 8);
#pragma GCC unroll 6
    for (int c = 0; c < NC; ++c) {
      const __m256 xv = _mm256_broadcast_ss(xc[c] + i);
      a[2 * c] = _mm256_fmadd_ps(w0, xv, a[2 * c]);
      a[2 * c + 1] = _mm256_fmadd_ps(w1, xv, a[2 * c + 1]);
    }
  }
#pragma GCC unroll 12
  for (int j = 0; j < 2 * NC; ++j) _mm256_storeu_ps(acc + 8 * j, a[j]);
}

void GemmPanel(const float* panel, int64_t kc, const float* const* x, int n_cols, float* acc) {
  WithColumns<kGemmPanelCols>(n_cols,
                              [&](auto nc) { GemmPanelN<decltype(nc)::value>(panel, kc, x, acc); });
}

template <GgmlType kType>
void Set(KernelTable& t, DequantRangeFn fn, int min_cols) {
  t.types[static_cast<uint32_t>(kType)].dequant = fn;
  t.types[static_cast<uint32_t>(kType)].gemm_min_cols = min_cols;
}

// Column counts from which the GEMM beats the dot kernels, from kernels_bench BM_DotCols vs
// BM_Gemm at 16/32/64/128 columns (one thread): the int16 Q8_0 dot kernel unpacks almost for
// free and holds ~24 GMAC/s, so the GEMM (dequantize + pack + f32 FMA) wins only from ~96
// columns; the 4/5-bit legacy types cross between 16 and 32; the K-quants' unpack is the
// costliest, so the GEMM wins from ~8; float weights near 16.
constexpr int kCrossQ8 = 96, kCrossLegacy = 24, kCrossK = 8, kCrossFloat = 16;

}  // namespace

void FillAvx2Gemm(KernelTable& t) {
  Set<GgmlType::kF32>(t, &DequantFloat<LoadF32>, kCrossFloat);
  Set<GgmlType::kF16>(t, &DequantFloat<LoadF16>, kCrossFloat);
  Set<GgmlType::kBF16>(t, &DequantFloat<LoadBF16>, kCrossFloat);
  Set<GgmlType::kQ8_0>(t, &DequantQuantized<UnpackQ8_0>, kCrossQ8);
  Set<GgmlType::kQ4_0>(t, &DequantQuantized<UnpackQ4_0>, kCrossLegacy);
  Set<GgmlType::kQ4_1>(t, &DequantQuantized<UnpackQ4_1>, kCrossLegacy);
  Set<GgmlType::kQ5_0>(t, &DequantQuantized<UnpackQ5_0>, kCrossLegacy);
  Set<GgmlType::kQ5_1>(t, &DequantQuantized<UnpackQ5_1>, kCrossLegacy);
  Set<GgmlType::kQ4_K>(t, &DequantQuantized<UnpackQ4_K>, kCrossK);
  Set<GgmlType::kQ5_K>(t, &DequantQuantized<UnpackQ5_K>, kCrossK);
  Set<GgmlType::kQ6_K>(t, &DequantQuantized<UnpackQ6_K>, kCrossK);
  t.pack_panel = &PackPanel;
  t.gemm_panel = &GemmPanel;
}

}  // namespace rwkv::engine::cpu
