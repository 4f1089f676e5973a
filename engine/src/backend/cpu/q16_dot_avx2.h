// The Q16 dot kernels on 256-bit vectors: block-quantized weight rows (unpack_avx2.h) times
// Q16 activation columns, eight blocks at a time with pairwise horizontal reductions, and
// the group walk (prefetch, scales of eight blocks) the AVX-512 kernels share. Include only
// from *_avx2.cc and *_avx512.cc files (see simd_avx2.h).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "backend/cpu/kernels.h"
#include "backend/cpu/simd_avx2.h"
#include "backend/cpu/unpack_avx2.h"

namespace rwkv::engine::cpu::RWKV_X86_NAMESPACE {

// The hardware prefetchers stop at 4 KiB page boundaries, and a decode matrix-vector product
// is one long stream per thread: software prefetch of the bytes kPrefetchBytes ahead keeps
// enough reads in flight to approach the memory bandwidth.
constexpr int64_t kPrefetchBytes = 2048;

__attribute__((always_inline)) inline void PrefetchAhead(const uint8_t* p, int64_t bytes) {
  for (int64_t o = 0; o < bytes; o += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes + o), _MM_HINT_T0);
  }
}

// The eight int32 sums of adjacent products of a block's 32 int16 weights (lo: elements
// 0-15, hi: 16-31) and activations (x0, x1).
__attribute__((always_inline)) inline __m256i BlockProducts(__m256i lo, __m256i hi, __m256i x0,
                                                            __m256i x1) {
  return _mm256_add_epi32(_mm256_madd_epi16(lo, x0), _mm256_madd_epi16(hi, x1));
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
    const __m256i p = BlockProducts(lo, hi, _mm256_loadu_si256(xq), _mm256_loadu_si256(xq + 1));
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
      return BlockProducts(lo, hi, _mm256_loadu_si256(xq), _mm256_loadu_si256(xq + 1));
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
        return BlockProducts(w[2 * j], w[2 * j + 1], _mm256_loadu_si256(xq + 2 * j),
                             _mm256_loadu_si256(xq + 2 * j + 1));
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

// The row loop of a Q16 product, shared by the ISAs' kernels: kOne for one column (decode),
// kMany for 2..kMaxQ16Cols; the column count is fixed for the whole call.
template <auto kOne, auto kMany>
void DotQ16Rows(const uint8_t* rows, uint64_t row_bytes, int64_t n_rows, int64_t k,
                const Q16View* x, int n_cols, float* out) {
  if (n_cols == 1) {
    for (int64_t r = 0; r < n_rows; ++r) kOne(rows + r * row_bytes, k, x[0], out + r);
    return;
  }
  for (int64_t r = 0; r < n_rows; ++r) kMany(rows + r * row_bytes, k, x, n_cols, out + n_cols * r);
}

template <class U>
inline constexpr DotQ16Fn kDotQ16 = &DotQ16Rows<&DotQ16One<U>, &DotQ16Many<U>>;

}  // namespace rwkv::engine::cpu::RWKV_X86_NAMESPACE
