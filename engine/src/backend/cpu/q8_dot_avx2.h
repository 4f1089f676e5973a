// The 8-bit products (Precision::kFast) of block-quantized weights (the legacy types, Q4_K,
// Q5_K) × Q8 activations on 256-bit vectors, shared by the AVX2 and AVX-VNNI files (include only
// from those; see simd_avx2.h for RWKV_X86_NAMESPACE).
//
// The 4/5-bit quants are unsigned (weight = scale·u + min, Q4_0's -8 and Q5_0's -16 folded
// into min), so they enter the byte products as they are. Q8_0's signed weights take the sign
// trick: |w| times x with w's sign applied (vpsignb). Compiled for AVX-VNNI (__AVXVNNI__), a
// block's products are one vpdpbusd (unsigned bytes × signed bytes, four products summed into
// each int32 lane); on plain AVX2 they are vpmaddubsw (adjacent pairs summed to int16; a pair
// stays below 2·31·127, or 2·127·127 for Q8_0, so it cannot saturate) and vpmaddwd against
// ones. Each block's eight int32 sums are converted and scaled into f32 accumulators; the min
// terms are taken eight blocks at a time from the activation sums.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backend/cpu/kernels.h"
#include "backend/cpu/simd_avx2.h"
#include "backend/cpu/unpack_avx2.h"

namespace rwkv::engine::cpu::RWKV_X86_NAMESPACE::q8dot {

inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// A legacy 4-bit block as 32 unsigned bytes: low nibbles (elements 0-15), then high nibbles.
inline __m256i Nibbles(const uint8_t* qs) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
}

// Adds 16 to byte e where bit e of the 32-bit qh is set.
inline __m256i AddFifth(__m256i u, const uint8_t* qh) {
  const __m256i v = _mm256_set1_epi32(static_cast<int>(Load32(qh)));
  const __m256i spread = _mm256_shuffle_epi8(
      v, _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  return _mm256_or_si256(u, _mm256_and_si256(set, _mm256_set1_epi8(16)));
}

// An 8-bit unpacker: Bytes(b) the block's 32 weight bytes (unsigned, or signed when kSigned)
// and the Q16 unpackers' Scales8 for the scales and mins of eight blocks.
struct Q8_0 : UnpackQ8_0 {
  static constexpr bool kSigned = true;
  static __m256i Bytes(const uint8_t* b) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2));
  }
};
struct Q4_0 : UnpackQ4_0 {
  static constexpr bool kSigned = false;
  static __m256i Bytes(const uint8_t* b) { return Nibbles(b + 2); }
};
struct Q4_1 : UnpackQ4_1 {
  static constexpr bool kSigned = false;
  static __m256i Bytes(const uint8_t* b) { return Nibbles(b + 4); }
};
struct Q5_0 : UnpackQ5_0 {
  static constexpr bool kSigned = false;
  static __m256i Bytes(const uint8_t* b) { return AddFifth(Nibbles(b + 6), b + 2); }
};
struct Q5_1 : UnpackQ5_1 {
  static constexpr bool kSigned = false;
  static __m256i Bytes(const uint8_t* b) { return AddFifth(Nibbles(b + 8), b + 4); }
};
// K-quants: Bytes(sb, j) is 32-element sub-block j of super-block sb, whose eight sub-blocks
// are one group of the tiles.
struct Q4_K : UnpackQ4_K {
  static constexpr bool kSigned = false;
  static __m256i Bytes(const uint8_t* sb, int j) { return NibblesK(sb + 16, j); }
};
struct Q5_K : UnpackQ5_K {
  static constexpr bool kSigned = false;
  static __m256i Bytes(const uint8_t* sb, int j) { return BytesQ5K(sb, j); }
};

// Eight int32 sums of a block's products: w unsigned (or, for signed weights, |w| with the
// signs moved onto x).
template <class U>
__attribute__((always_inline)) inline __m256i BlockSums(__m256i w, __m256i w_abs, __m256i x) {
#if defined(__AVXVNNI__)
  const __m256i zero = _mm256_setzero_si256();
  if constexpr (U::kSigned) {
    return _mm256_dpbusd_avx_epi32(zero, w_abs, _mm256_sign_epi8(x, w));
  } else {
    return _mm256_dpbusd_avx_epi32(zero, w, x);
  }
#else
  const __m256i ones = _mm256_set1_epi16(1);
  if constexpr (U::kSigned) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(x, w)), ones);
  } else {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), ones);
  }
#endif
}

template <class U, int NR, int NC>
void Tile(const uint8_t* rows, uint64_t row_bytes, int64_t k, const Q8View* x, float* out,
          int out_stride) {
  const int64_t nb = k / kQ8Block;
  // Accumulators indexed only by compile-time indices (Unroll), so that they stay in
  // registers; the scale products and min sums of a group live in L1.
  // A one-product tile (decode) would chain every block's FMA through one accumulator and run
  // at the FMA's latency: it keeps two, taken in turn (four spill the 16 registers:
  // kernels_bench BM_GemmFast/*/1/1).
  constexpr int kChains = NR * NC >= 2 ? 1 : 2;
  __m256 acc[NR][NC][kChains];
  Unroll<NR>([&](auto r) {
    Unroll<NC>(
        [&](auto c) { Unroll<kChains>([&](auto i) { acc[r][c][i] = _mm256_setzero_ps(); }); });
  });
  alignas(32) float prod[NR][NC][8];
  alignas(32) float min_sums[NR][NC][8] = {};
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    Unroll<NR>([&](auto r) {
      const uint8_t* g = rows + r * row_bytes + b / 8 * kGroupBytes<U>;
      // One row streams: prefetch 2 KiB ahead along it (into the next row). Several rows
      // in lockstep: the same group of the row NR rows below, which the next tile reads.
      const uint8_t* ahead = NR == 1 ? g + 2048 : g + NR * row_bytes;
      for (int64_t o = 0; o < kGroupBytes<U>; o += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(ahead + o), _MM_HINT_T0);
      }
      __m256 scales, mins;
      U::Scales8(g, &scales, &mins);
      Unroll<NC>([&](auto c) {
        _mm256_store_ps(prod[r][c], _mm256_mul_ps(scales, _mm256_loadu_ps(x[c].d + b)));
        _mm256_store_ps(min_sums[r][c], _mm256_fmadd_ps(mins, _mm256_loadu_ps(x[c].s + b),
                                                        _mm256_load_ps(min_sums[r][c])));
      });
    });
    for (int j0 = 0; j0 < 8; j0 += kChains) {
      Unroll<kChains>([&](auto chain) {
        const int j = j0 + chain;
        Unroll<NR>([&](auto r) {
          const __m256i w = GroupBlock<U>(rows + r * row_bytes + b / 8 * kGroupBytes<U>, j);
          const __m256i w_abs = U::kSigned ? _mm256_sign_epi8(w, w) : w;
          Unroll<NC>([&](auto c) {
            const __m256i xv =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[c].q + (b + j) * kQ8Block));
            const __m256i p = BlockSums<U>(w, w_abs, xv);
            acc[r][c][chain] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(prod[r][c][j]),
                                               acc[r][c][chain]);
          });
        });
      });
    }
  }
  float tail[NR][NC] = {};
  // Rows of K-quants are whole super-blocks: only legacy rows end in a partial group.
  if constexpr (U::kBlocks == 1) {
    for (; b < nb; ++b) {
      for (int r = 0; r < NR; ++r) {
        const uint8_t* blk = rows + r * row_bytes + b * U::kBytes;
        const __m256i w = U::Bytes(blk);
        const __m256i w_abs = U::kSigned ? _mm256_sign_epi8(w, w) : w;
        float scale, min;
        U::Scalar(blk, &scale, &min);
        for (int c = 0; c < NC; ++c) {
          const __m256i xv =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[c].q + b * kQ8Block));
          const __m256 p = _mm256_cvtepi32_ps(BlockSums<U>(w, w_abs, xv));
          tail[r][c] += scale * x[c].d[b] * HorizontalSum(p) + min * x[c].s[b];
        }
      }
    }
  }
  Unroll<NR>([&](auto r) {
    Unroll<NC>([&](auto c) {
      out[r * out_stride + c] = HorizontalSum(SumChains(acc[r][c])) +
                                HorizontalSum(_mm256_load_ps(min_sums[r][c])) + tail[r][c];
    });
  });
}

// Two rows × four columns: eight accumulators and the two rows' weights fit the 16 registers.
constexpr int kTileRows = 2, kTileCols = 4;

template <class U, int NC>
void Columns(const uint8_t* rows, uint64_t row_bytes, int64_t n_rows, int64_t k, const Q8View* x,
             int n_cols, float* out) {
  int64_t r = 0;
  if constexpr (NC == 1) {
    // A matrix-vector product is bound by the weight stream: one row at a time.
    for (; r < n_rows; ++r) {
      Tile<U, 1, 1>(rows + r * row_bytes, row_bytes, k, x, out + r * n_cols, n_cols);
    }
  }
  for (; r + kTileRows <= n_rows; r += kTileRows) {
    Tile<U, kTileRows, NC>(rows + r * row_bytes, row_bytes, k, x, out + r * n_cols, n_cols);
  }
  for (; r < n_rows; ++r) {
    Tile<U, 1, NC>(rows + r * row_bytes, row_bytes, k, x, out + r * n_cols, n_cols);
  }
}

template <class U>
void DotQ8(const uint8_t* rows, uint64_t row_bytes, int64_t n_rows, int64_t k, const Q8View* x,
           int n_cols, float* out) {
  for (int c0 = 0; c0 < n_cols; c0 += kTileCols) {
    const int nc = n_cols - c0 < kTileCols ? n_cols - c0 : kTileCols;
    WithColumns<kTileCols>(nc, [&](auto n) {
      Columns<U, decltype(n)::value>(rows, row_bytes, n_rows, k, x + c0, n_cols, out + c0);
    });
  }
}

// Sets the table's 8-bit products: the five legacy block types, Q4_K and Q5_K.
inline void SetDotQ8(KernelTable& t) {
  t.types[static_cast<uint32_t>(GgmlType::kQ8_0)].dot_q8 = &DotQ8<Q8_0>;
  t.types[static_cast<uint32_t>(GgmlType::kQ4_0)].dot_q8 = &DotQ8<Q4_0>;
  t.types[static_cast<uint32_t>(GgmlType::kQ4_1)].dot_q8 = &DotQ8<Q4_1>;
  t.types[static_cast<uint32_t>(GgmlType::kQ5_0)].dot_q8 = &DotQ8<Q5_0>;
  t.types[static_cast<uint32_t>(GgmlType::kQ5_1)].dot_q8 = &DotQ8<Q5_1>;
  t.types[static_cast<uint32_t>(GgmlType::kQ4_K)].dot_q8 = &DotQ8<Q4_K>;
  t.types[static_cast<uint32_t>(GgmlType::kQ5_K)].dot_q8 = &DotQ8<Q5_K>;
}

}  // namespace rwkv::engine::cpu::RWKV_X86_NAMESPACE::q8dot
