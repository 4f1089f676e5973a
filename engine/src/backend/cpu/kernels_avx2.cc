// AVX2 + FMA + F16C kernel table: float-weight dot products on f32 activations, and
// int16 multiply-adds (vpmaddwd) of unpacked block-quantized weights against Q16 activations.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "backend/cpu/kernels.h"
#include "backend/cpu/simd_avx2.h"
#include "backend/cpu/unpack_avx2.h"
#include "rwkv/engine/fp16.h"

namespace rwkv::engine::cpu {
namespace {

using namespace avx2;  // NOLINT: the unpackers and loaders of this ISA

// The hardware prefetchers stop at 4 KiB page boundaries, and a decode matrix-vector product
// is one long stream per thread: software prefetch of the bytes kPrefetchBytes ahead keeps
// enough reads in flight to approach the memory bandwidth.
constexpr int64_t kPrefetchBytes = 2048;

__attribute__((always_inline)) inline void PrefetchAhead(const uint8_t* p, int64_t bytes) {
  for (int64_t o = 0; o < bytes; o += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes + o), _MM_HINT_T0);
  }
}

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
  for (int64_t r = 0; r < n_rows; ++r, rows += row_bytes, out += n_cols) {
    switch (n_cols) {
      case 1:
        DotFloatN<L, 1>(rows, k, x, out);
        break;
      case 2:
        DotFloatN<L, 2>(rows, k, x, out);
        break;
      case 3:
        DotFloatN<L, 3>(rows, k, x, out);
        break;
      default:
        DotFloatN<L, 4>(rows, k, x, out);
        break;
    }
  }
}

// Accumulates 32-element block j of super-block `sb` (global block index b) into acc.
template <class U, int NC>
__attribute__((always_inline)) inline void DotQ16Block(const uint8_t* sb,
                                                       const typename U::Ctx& ctx, int j, int64_t b,
                                                       const Q16View* x, __m256* acc, float* mins) {
  __m256i lo, hi;
  float scale, min = 0.0f;
  U::Block(sb, ctx, j, &lo, &hi, &scale, &min);
  for (int c = 0; c < NC; ++c) {
    const __m256i* xq = reinterpret_cast<const __m256i*>(x[c].q + b * 32);
    const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(lo, _mm256_loadu_si256(xq)),
                                       _mm256_madd_epi16(hi, _mm256_loadu_si256(xq + 1)));
    acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(scale * x[c].d[b]), acc[c]);
    if constexpr (U::kHasMin) mins[c] += min * x[c].s[b];
  }
}

// Two accumulator sets (even and odd blocks), named at compile time so they stay in
// registers: a runtime-indexed pair would live on the stack and chain every block through a
// store-to-load round trip.
template <class U, int NC>
inline void DotQ16N(const uint8_t* row, int64_t k, const Q16View* x, float* out) {
  __m256 even[NC], odd[NC];
  float mins[NC];
  for (int c = 0; c < NC; ++c) {
    even[c] = odd[c] = _mm256_setzero_ps();
    mins[c] = 0.0f;
  }
  const int64_t n_super = k / (32 * U::kBlocks);
  typename U::Ctx ctx;
  if constexpr (U::kBlocks == 1) {
    int64_t sbi = 0;
    for (; sbi + 2 <= n_super; sbi += 2) {
      const uint8_t* sb = row + sbi * U::kBytes;
      DotQ16Block<U, NC>(sb, ctx, 0, sbi, x, even, mins);
      DotQ16Block<U, NC>(sb + U::kBytes, ctx, 0, sbi + 1, x, odd, mins);
    }
    if (sbi < n_super) DotQ16Block<U, NC>(row + sbi * U::kBytes, ctx, 0, sbi, x, even, mins);
  } else {
    for (int64_t sbi = 0; sbi < n_super; ++sbi) {
      const uint8_t* sb = row + sbi * U::kBytes;
      U::Super(sb, ctx);
      const int64_t b0 = sbi * U::kBlocks;
      for (int j = 0; j < U::kBlocks; j += 2) {
        DotQ16Block<U, NC>(sb, ctx, j, b0 + j, x, even, mins);
        DotQ16Block<U, NC>(sb, ctx, j + 1, b0 + j + 1, x, odd, mins);
      }
    }
  }
  for (int c = 0; c < NC; ++c) out[c] = HorizontalSum(_mm256_add_ps(even[c], odd[c])) + mins[c];
}

// Lane j of the result is the sum of the eight int32 lanes of block(j), j < 8. The blocks'
// vectors are reduced pairwise as soon as they exist, so that only a few are live at a time
// (keeping all eight live spilled the unpack constants and re-materialised them per block).
template <class BlockFn>
__attribute__((always_inline)) inline __m256i EightBlockSums(const BlockFn& block) {
  const __m256i p0 = block(0);
  const __m256i h01 = _mm256_hadd_epi32(p0, block(1));
  const __m256i p2 = block(2);
  const __m256i h23 = _mm256_hadd_epi32(p2, block(3));
  const __m256i q0 = _mm256_hadd_epi32(h01, h23);
  const __m256i p4 = block(4);
  const __m256i h45 = _mm256_hadd_epi32(p4, block(5));
  const __m256i p6 = block(6);
  const __m256i h67 = _mm256_hadd_epi32(p6, block(7));
  const __m256i q1 = _mm256_hadd_epi32(h45, h67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(q0, q1, 0x20),
                          _mm256_permute2x128_si256(q0, q1, 0x31));
}

// The eight-block groups both Q16 kernels walk: group start b (a multiple of 8) begins at
// the returned pointer, whose next bytes are prefetched, with the eight blocks' scales and
// mins as vectors.
template <class U>
__attribute__((always_inline)) inline const uint8_t* GroupStart(const uint8_t* row, int64_t b,
                                                                __m256* scales, __m256* mins) {
  const uint8_t* sb = row + (b / U::kBlocks) * U::kBytes;
  PrefetchAhead(sb, 8 * 32 * U::kBytes / (32 * U::kBlocks));
  U::Scales8(sb, scales, mins);
  return sb;
}

// Block j (< 8) of the group at sb, as 32 int16 weights.
template <class U>
__attribute__((always_inline)) inline void GroupQuants(const uint8_t* sb, int j, __m256i* lo,
                                                       __m256i* hi) {
  if constexpr (U::kBlocks == 8) {
    U::Quants(sb, j, lo, hi);
  } else {
    U::Quants(sb + j * U::kBytes, 0, lo, hi);
  }
}

// The dot product over blocks [b, nb) of a legacy-type row, fewer than eight.
template <class U>
float TailDot(const uint8_t* row, int64_t b, int64_t nb, const Q16View& x) {
  float tail = 0.0f;
  if (b < nb) {
    const Q16View rest{x.q + b * 32, x.d + b, x.s + b};
    DotQ16N<U, 1>(row + b * U::kBytes, (nb - b) * 32, &rest, &tail);
  }
  return tail;
}

// One column, eight blocks at a time: the eight blocks' int32 sums are reduced into one
// vector (three levels of hadd), converted once and scaled by a vector of the eight
// weight×activation scales, instead of a convert, a scalar multiply, a broadcast and an FMA
// per block. Decode runs on this kernel.
template <class U>
inline void DotQ16One(const uint8_t* row, int64_t k, const Q16View& x, float* out) {
  const int64_t nb = k / 32;
  __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    __m256 scales, mins;
    const uint8_t* sb = GroupStart<U>(row, b, &scales, &mins);
    // Block j's eight int32 partial sums.
    const auto block = [&](int j) __attribute__((always_inline)) {
      __m256i lo, hi;
      GroupQuants<U>(sb, j, &lo, &hi);
      const __m256i* xq = reinterpret_cast<const __m256i*>(x.q + (b + j) * 32);
      return _mm256_add_epi32(_mm256_madd_epi16(lo, _mm256_loadu_si256(xq)),
                              _mm256_madd_epi16(hi, _mm256_loadu_si256(xq + 1)));
    };
    const __m256i sums = EightBlockSums(block);
    const __m256 scale = _mm256_mul_ps(scales, _mm256_loadu_ps(x.d + b));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, acc);
    if constexpr (U::kHasMin) acc_min = _mm256_fmadd_ps(mins, _mm256_loadu_ps(x.s + b), acc_min);
  }
  *out = HorizontalSum(_mm256_add_ps(acc, acc_min)) + TailDot<U>(row, b, nb, x);
}

// Several columns (2..kMaxQ16Cols): each group of eight blocks is unpacked once into sixteen
// int16 vectors that stay in L1, and every column reduces its products over them as the
// one-column kernel does (pairwise hadd, one convert and one FMA per eight blocks). The
// unpack, the costliest part for the 4/5-bit and K types, is shared by all the columns.
template <class U>
inline void DotQ16Many(const uint8_t* row, int64_t k, const Q16View* x, int n_cols, float* out) {
  const int64_t nb = k / 32;
  __m256 acc[kMaxQ16Cols], acc_min[kMaxQ16Cols];
  for (int c = 0; c < n_cols; ++c) acc[c] = acc_min[c] = _mm256_setzero_ps();
  alignas(32) __m256i w[16];
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    __m256 scales, mins;
    const uint8_t* sb = GroupStart<U>(row, b, &scales, &mins);
    for (int j = 0; j < 8; ++j) GroupQuants<U>(sb, j, &w[2 * j], &w[2 * j + 1]);
    for (int c = 0; c < n_cols; ++c) {
      const __m256i* xq = reinterpret_cast<const __m256i*>(x[c].q + b * 32);
      const auto block = [&](int j) __attribute__((always_inline)) {
        return _mm256_add_epi32(
            _mm256_madd_epi16(w[2 * j], _mm256_loadu_si256(xq + 2 * j)),
            _mm256_madd_epi16(w[2 * j + 1], _mm256_loadu_si256(xq + 2 * j + 1)));
      };
      const __m256i sums = EightBlockSums(block);
      const __m256 scale = _mm256_mul_ps(scales, _mm256_loadu_ps(x[c].d + b));
      acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, acc[c]);
      if constexpr (U::kHasMin) {
        acc_min[c] = _mm256_fmadd_ps(mins, _mm256_loadu_ps(x[c].s + b), acc_min[c]);
      }
    }
  }
  for (int c = 0; c < n_cols; ++c) {
    out[c] = HorizontalSum(_mm256_add_ps(acc[c], acc_min[c])) + TailDot<U>(row, b, nb, x[c]);
  }
}

template <class U>
void DotQ16(const uint8_t* rows, uint64_t row_bytes, int64_t n_rows, int64_t k, const Q16View* x,
            int n_cols, float* out) {
  // The column count is fixed for the whole call: dispatch once, loop rows inside.
  if (n_cols == 1) {
    for (int64_t r = 0; r < n_rows; ++r) DotQ16One<U>(rows + r * row_bytes, k, x[0], out + r);
    return;
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    DotQ16Many<U>(rows + r * row_bytes, k, x, n_cols, out + n_cols * r);
  }
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
  tk.dot_q16 = &DotQ16<U>;
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
