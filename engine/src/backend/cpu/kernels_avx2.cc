// AVX2 + FMA + F16C kernel table: float-weight dot products on f32 activations, and
// int16 multiply-adds (vpmaddwd) of unpacked block-quantized weights against Q16 activations.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "backend/cpu/kernels.h"
#include "backend/cpu/q16_dot_avx2.h"
#include "backend/cpu/simd_avx2.h"
#include "backend/cpu/unpack_avx2.h"
#include "rwkv/engine/fp16.h"

namespace rwkv::engine::cpu {
namespace {

using namespace avx2;  // NOLINT: the unpackers, loaders and Q16 kernels of this ISA

template <class L, int NC>
inline void DotFloatN(const uint8_t* row, int64_t k, const float* const* x, float* out) {
  __m256 acc0[NC], acc1[NC];
  for (int c = 0; c < NC; ++c) acc0[c] = acc1[c] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    if constexpr (NC == 1) {
      if ((i * L::kBytes) % 64 == 0) PrefetchAhead(row + i * L::kBytes, 16 * L::kBytes);
    }
    const __m256 w0 = L::Load(row + i * L::kBytes);
    const __m256 w1 = L::Load(row + (i + 8) * L::kBytes);
    for (int c = 0; c < NC; ++c) {
      acc0[c] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[c] + i), acc0[c]);
      acc1[c] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x[c] + i + 8), acc1[c]);
    }
  }
  for (; i + 8 <= k; i += 8) {
    const __m256 w0 = L::Load(row + i * L::kBytes);
    for (int c = 0; c < NC; ++c) acc0[c] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[c] + i), acc0[c]);
  }
  for (int c = 0; c < NC; ++c) {
    float sum = HorizontalSum(_mm256_add_ps(acc0[c], acc1[c]));
    for (int64_t j = i; j < k; ++j) sum += L::Scalar(row + j * L::kBytes) * x[c][j];
    out[c] = sum;
  }
}

template <class L>
void DotFloat(const uint8_t* rows, uint64_t row_bytes, int64_t n_rows, int64_t k,
              const float* const* x, int n_cols, float* out) {
  WithColumns<kMaxCols>(n_cols, [&](auto nc) {
    constexpr int kCols = decltype(nc)::value;
    for (int64_t r = 0; r < n_rows; ++r)
      DotFloatN<L, kCols>(rows + r * row_bytes, k, x, out + kCols * r);
  });
}

void QuantizeQ16Avx2(const float* x, int64_t k, int16_t* q, float* d, float* s) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < k / 32; ++b) {
    const float* xb = x + b * 32;
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(xb + 8 * i);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[i]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float db = _mm_cvtss_f32(m) / 32767.0f;
    const float idf = db != 0.0f ? 1.0f / db : 0.0f;
    const __m256 id = _mm256_set1_ps(idf);
    __m256i qi[4];
    __m256i sum = _mm256_setzero_si256();
    for (int i = 0; i < 4; ++i) {
      qi[i] = _mm256_cvtps_epi32(
          _mm256_round_ps(_mm256_mul_ps(v[i], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      sum = _mm256_add_epi32(sum, qi[i]);
    }
    const __m256i p0 = _mm256_permute4x64_epi64(_mm256_packs_epi32(qi[0], qi[1]), 0xD8);
    const __m256i p1 = _mm256_permute4x64_epi64(_mm256_packs_epi32(qi[2], qi[3]), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * 32), p0);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * 32 + 16), p1);
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
    d[b] = db;
    s[b] = db * static_cast<float>(_mm_cvtsi128_si32(s4));
  }
}

void Wkv6Avx2(int64_t t_count, int64_t h_count, int64_t s, const float* r, const float* k,
              const float* v, const float* w, int64_t stride, const float* u, float* state,
              float* y) {
  for (int64_t t = 0; t < t_count; ++t) {
    const int64_t row = t * stride;
    for (int64_t h = 0; h < h_count; ++h) {
      float* st = state + h * s * s;
      float* yh = y + row + h * s;
      const float* vh = v + row + h * s;
      for (int64_t j = 0; j < s; j += 8) _mm256_storeu_ps(yh + j, _mm256_setzero_ps());
      for (int64_t i = 0; i < s; ++i) {
        const int64_t c = h * s + i;
        const __m256 ki = _mm256_set1_ps(k[row + c]);
        const __m256 ri = _mm256_set1_ps(r[row + c]);
        const __m256 wi = _mm256_set1_ps(w[row + c]);
        const __m256 ui = _mm256_set1_ps(u[c]);
        float* si = st + i * s;
        for (int64_t j = 0; j < s; j += 8) {
          const __m256 kv = _mm256_mul_ps(ki, _mm256_loadu_ps(vh + j));
          const __m256 sv = _mm256_loadu_ps(si + j);
          const __m256 yv =
              _mm256_fmadd_ps(ri, _mm256_fmadd_ps(ui, kv, sv), _mm256_loadu_ps(yh + j));
          _mm256_storeu_ps(yh + j, yv);
          _mm256_storeu_ps(si + j, _mm256_fmadd_ps(wi, sv, kv));
        }
      }
    }
  }
}

void Wkv6Dispatch(int64_t t_count, int64_t h_count, int64_t s, const float* r, const float* k,
                  const float* v, const float* w, int64_t stride, const float* u, float* state,
                  float* y) {
  if (s % 8 != 0) {
    return KernelsFor(Isa::kScalar)->wkv6(t_count, h_count, s, r, k, v, w, stride, u, state, y);
  }
  Wkv6Avx2(t_count, h_count, s, r, k, v, w, stride, u, state, y);
}

template <GgmlType kType, class L>
void SetFloat(KernelTable& t) {
  TypeKernels& tk = t.types[static_cast<uint32_t>(kType)];
  tk.act = ActFormat::kF32;
  tk.dot_f32 = &DotFloat<L>;
  tk.dot_q16 = nullptr;
}

template <GgmlType kType, class U>
void SetQ16(KernelTable& t) {
  TypeKernels& tk = t.types[static_cast<uint32_t>(kType)];
  tk.act = ActFormat::kQ16;
  tk.dot_f32 = nullptr;
  tk.dot_q16 = kDotQ16<U>;
}

}  // namespace

void FillAvx2Kernels(KernelTable& t) {
  t.isa = Isa::kAvx2;
  SetFloat<GgmlType::kF32, LoadF32>(t);
  SetFloat<GgmlType::kF16, LoadF16>(t);
  SetFloat<GgmlType::kBF16, LoadBF16>(t);
  SetQ16<GgmlType::kQ8_0, UnpackQ8_0>(t);
  SetQ16<GgmlType::kQ4_0, UnpackQ4_0>(t);
  SetQ16<GgmlType::kQ4_1, UnpackQ4_1>(t);
  SetQ16<GgmlType::kQ5_0, UnpackQ5_0>(t);
  SetQ16<GgmlType::kQ5_1, UnpackQ5_1>(t);
  SetQ16<GgmlType::kQ4_K, UnpackQ4_K>(t);
  SetQ16<GgmlType::kQ5_K, UnpackQ5_K>(t);
  SetQ16<GgmlType::kQ6_K, UnpackQ6_K>(t);
  t.quantize_q16 = &QuantizeQ16Avx2;
  t.wkv6 = &Wkv6Dispatch;
}

}  // namespace rwkv::engine::cpu
