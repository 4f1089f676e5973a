// The matrix products' epilogues (tanh, sigmoid, SiLU, squared ReLU) eight outputs at a time.
// They run on every output of the gate, the channel mix and the LoRA matrices; evaluated one by
// one through libm they took a tenth of a prompt's time.
//
// exp is computed as 2^n·p(r) with x = n·ln2 + r, |r| <= ln2/2, and p the degree-6 Taylor
// polynomial (relative error below 2e-7, a few float ulps); the inputs are clamped to where
// exp neither overflows nor underflows, which the three functions built on it tolerate:
// sigmoid and SiLU go to 0 or 1 (or v) as they should, and tanh(v) = 1 - 2/(exp(2v) + 1)
// reaches ±1 (its absolute error near 0 is about 1e-7).
#include <immintrin.h>

#include <cstdint>

#include "backend/cpu/kernels.h"
#include "backend/cpu/matmul.h"

namespace rwkv::engine::cpu {
namespace {

using backend::Epilogue;

inline __m256 Exp(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);  // ln2, high part
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);       // ln2, low part
  __m256 p = _mm256_set1_ps(1.0f / 720.0f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

template <Epilogue kE>
inline __m256 Apply(__m256 v) {
  const __m256 one = _mm256_set1_ps(1.0f);
  if constexpr (kE == Epilogue::kTanh) {
    const __m256 e = Exp(_mm256_add_ps(v, v));
    return _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
  } else if constexpr (kE == Epilogue::kSigmoid) {
    return _mm256_div_ps(one, _mm256_add_ps(one, Exp(_mm256_sub_ps(_mm256_setzero_ps(), v))));
  } else if constexpr (kE == Epilogue::kSilu) {
    return _mm256_div_ps(v, _mm256_add_ps(one, Exp(_mm256_sub_ps(_mm256_setzero_ps(), v))));
  } else {
    const __m256 r = _mm256_max_ps(v, _mm256_setzero_ps());
    return _mm256_mul_ps(r, r);
  }
}

template <Epilogue kE>
void Run(bool accumulate, const float* src, int64_t count, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    __m256 v = Apply<kE>(_mm256_loadu_ps(src + i));
    if (accumulate) v = _mm256_add_ps(v, _mm256_loadu_ps(dst + i));
    _mm256_storeu_ps(dst + i, v);
  }
  for (; i < count; ++i) {
    const float v = ApplyEpilogue(kE, src[i]);
    dst[i] = accumulate ? dst[i] + v : v;
  }
}

void EpilogueRunAvx2(Epilogue epilogue, bool accumulate, const float* src, int64_t count,
                     float* dst) {
  switch (epilogue) {
    case Epilogue::kTanh:
      return Run<Epilogue::kTanh>(accumulate, src, count, dst);
    case Epilogue::kSigmoid:
      return Run<Epilogue::kSigmoid>(accumulate, src, count, dst);
    case Epilogue::kSilu:
      return Run<Epilogue::kSilu>(accumulate, src, count, dst);
    case Epilogue::kReluSquare:
      return Run<Epilogue::kReluSquare>(accumulate, src, count, dst);
    case Epilogue::kNone:
      break;
  }
  for (int64_t i = 0; i < count; ++i) dst[i] = accumulate ? dst[i] + src[i] : src[i];
}

}  // namespace

void FillAvx2Epilogue(KernelTable& t) { t.epilogue_run = &EpilogueRunAvx2; }

}  // namespace rwkv::engine::cpu
