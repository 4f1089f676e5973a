// AVX2 helpers shared by the AVX2 kernel files: horizontal sum, f16 scalar load and the
// 8-wide f32/f16/bf16 loaders. Include only from *_avx2.cc and *_avx512.cc files.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "rwkv/engine/fp16.h"

// These helpers are compiled with each file's own ISA flags. Every ISA puts them in its own
// namespace (the AVX-512 files define RWKV_X86_NAMESPACE as avx512 before including), so the
// linker can never merge an AVX-512 copy of an inline helper into the AVX2 kernels.
#ifndef RWKV_X86_NAMESPACE
#define RWKV_X86_NAMESPACE avx2
#endif

namespace rwkv::engine::cpu::RWKV_X86_NAMESPACE {

// Calls f(std::integral_constant<int, N>()) with N = n clamped to [1, kMax]: a column count
// fixed for a whole call becomes a template argument once, outside the row loops.
template <int kMax, class F>
__attribute__((always_inline)) inline void WithColumns(int n, const F& f) {
  if constexpr (kMax > 1) {
    if (n < kMax) return WithColumns<kMax - 1>(n, f);
  }
  f(std::integral_constant<int, kMax>());
}

// Calls f(std::integral_constant<int, i>()) for i < N: indices known before the compiler's
// scalar replacement runs, so that arrays indexed by them stay in registers (loops unrolled
// by pragma are unrolled only after it, and left the accumulators on the stack).
template <int N, class F, int... I>
__attribute__((always_inline)) inline void UnrollImpl(const F& f,
                                                      std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>()), ...);
}
template <int N, class F>
__attribute__((always_inline)) inline void Unroll(const F& f) {
  UnrollImpl<N>(f, std::make_integer_sequence<int, N>());
}

inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The sum of N accumulators of one product (N independent FMA chains).
template <int N>
inline __m256 SumChains(const __m256 (&v)[N]) {
  __m256 s = v[0];
  for (int i = 1; i < N; ++i) s = _mm256_add_ps(s, v[i]);
  return s;
}

inline float F16At(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// ---- float weights --------------------------------------------------------------------

struct LoadF32 {
  static constexpr int kBytes = 4;
  static __m256 Load(const uint8_t* p) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  }
  static float Scalar(const uint8_t* p) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
};
struct LoadF16 {
  static constexpr int kBytes = 2;
  static __m256 Load(const uint8_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static float Scalar(const uint8_t* p) { return F16At(p); }
};
struct LoadBF16 {
  static constexpr int kBytes = 2;
  static __m256 Load(const uint8_t* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
  static float Scalar(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return Bf16ToFp32(h);
  }
};

}  // namespace rwkv::engine::cpu::RWKV_X86_NAMESPACE
