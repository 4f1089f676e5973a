// AVX-512 VNNI 8-bit products (Precision::kFast): block-quantized weights (the legacy types,
// Q4_K, Q5_K) × Q8 activations with vpdpbusd (unsigned bytes × signed bytes, four products
// summed into each int32 lane).
//
// Every weight block of 32 is turned into 32 unsigned bytes u with weight = scale·u + min: the
// 4/5-bit quants are unsigned already (Q4_0's -8 and Q5_0's -16 become min = -8·scale,
// -16·scale; a K-quant sub-block has its 6-bit scale and min), and Q8_0's signed bytes are
// flipped to u = w + 128 (min = -128·scale). A block's product is then scale·d_x·Σu·x +
// min·s_x, the second term taken eight blocks at a time from the activation sums. vpdpbusd
// leaves each block's sum spread over eight int32 lanes, which are converted and scaled
// straight into f32 accumulators: no horizontal sums per block.
//
// Products run on tiles of rows × columns: each unpacked weight vector feeds every column of
// the tile and each activation vector every row.
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <utility>

#include "backend/cpu/kernels.h"

#define RWKV_X86_NAMESPACE avx512
#include "backend/cpu/q16_dot_avx2.h"
#include "backend/cpu/simd_avx2.h"
#include "backend/cpu/unpack_avx2.h"

#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace rwkv::engine::cpu::avx512 {
namespace {

inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline __m256i Load256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// A legacy 4-bit block as 32 unsigned bytes: bytes 0-15 are the low nibbles (elements 0-15),
// bytes 16-31 the high nibbles (elements 16-31).
inline __m256i Nibbles1(const uint8_t* qs) {
  const __m256i w =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  return _mm256_and_si256(_mm256_mask_srli_epi16(w, 0xFF00u, w, 4), _mm256_set1_epi8(0x0F));
}

// Bit e of a block's 32-bit qh is element e's fifth bit: it is the byte mask itself.
inline __m256i Fifth1(__m256i u, const uint8_t* qh) {
  return _mm256_mask_add_epi8(u, Load32(qh), u, _mm256_set1_epi8(16));
}

// An 8-bit unpacker: Bytes(a) one block as 32 unsigned bytes;
// Scales8 (from the Q16 unpackers) the scales and mins of eight blocks, Scalar of one.
struct Q8_0 {
  static constexpr int kBlocks = 1, kBytes = 34;
  static constexpr bool kFiveBit = false;
  static __m256i Bytes(const uint8_t* a) {
    return _mm256_xor_si256(Load256(a + 2), _mm256_set1_epi8(static_cast<char>(0x80)));
  }
  static void Scales8(const uint8_t* p, __m256* scale, __m256* min) {
    *scale = F16Strided8<kBytes>(p);
    *min = _mm256_mul_ps(*scale, _mm256_set1_ps(-128.0f));
  }
  static void Scalar(const uint8_t* b, float* scale, float* min) {
    *scale = F16At(b);
    *min = -128.0f * *scale;
  }
};

struct Q4_0 : UnpackQ4_0 {
  static constexpr bool kFiveBit = false;
  static __m256i Bytes(const uint8_t* a) { return Nibbles1(a + 2); }
};
struct Q4_1 : UnpackQ4_1 {
  static constexpr bool kFiveBit = false;
  static __m256i Bytes(const uint8_t* a) { return Nibbles1(a + 4); }
};
struct Q5_0 : UnpackQ5_0 {
  static constexpr bool kFiveBit = true;
  static __m256i Bytes(const uint8_t* a) { return Fifth1(Nibbles1(a + 6), a + 2); }
};
struct Q5_1 : UnpackQ5_1 {
  static constexpr bool kFiveBit = true;
  static __m256i Bytes(const uint8_t* a) { return Fifth1(Nibbles1(a + 8), a + 4); }
};
// K-quants: Bytes(sb, j) is 32-element sub-block j of super-block sb, whose eight sub-blocks
// are one group of the tiles.
struct Q4_K : UnpackQ4_K {
  static constexpr bool kFiveBit = false;
  static __m256i Bytes(const uint8_t* sb, int j) { return NibblesK(sb + 16, j); }
};
struct Q5_K : UnpackQ5_K {
  static constexpr bool kFiveBit = true;
  static __m256i Bytes(const uint8_t* sb, int j) {
    const __m256i qh = Load256(sb + 16);  // bit j of byte i: element i's fifth bit
    const __m256i u = NibblesK(sb + 48, j);
    return _mm256_mask_add_epi8(
        u, _mm256_test_epi8_mask(qh, _mm256_set1_epi8(static_cast<char>(1 << j))), u,
        _mm256_set1_epi8(16));
  }
};

// out[r·out_stride + c] = row r · column c for NR rows and NC columns.
//
// One block per 256-bit vpdpbusd: its eight int32 sums are converted and multiplied into
// the (row, column) accumulator by the block's scale product d_w·d_x, taken from L1 as an
// embedded broadcast. The products of a group of eight blocks are made by one 8-wide
// multiply per (row, column). Zen 4 runs vpdpbusd, vmulps and vfmadd on the same two pipes:
// this keeps two of them per block and (row, column), where two-block 512-bit vectors need a
// third (the per-pair scale vector has to be multiplied out per row and column).
template <class U, int NR, int NC>
void Tile(const uint8_t* rows, uint64_t row_bytes, int64_t k, const Q8View* x, float* out,
          int out_stride) {
  const int64_t nb = k / kQ8Block;
  // A tile of one or two products (decode) would chain every block's FMA through one
  // accumulator and run at the FMA's latency: it keeps kChains accumulators per product, taken
  // in turn (kernels_bench BM_GemmFast/*/1/2: 1.1-1.4x less time per product).
  constexpr int kChains = NR * NC >= 4 ? 1 : 4 / (NR * NC);
  __m256 acc[NR][NC][kChains];
  Unroll<NR>([&](auto r) {
    Unroll<NC>(
        [&](auto c) { Unroll<kChains>([&](auto i) { acc[r][c][i] = _mm256_setzero_ps(); }); });
  });
  alignas(32) float prod[NR][NC][8];
  alignas(32) float min_sums[NR][NC][8] = {};
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    __m256 xd[NC];
    Unroll<NC>([&](auto c) { xd[c] = _mm256_loadu_ps(x[c].d + b); });
    Unroll<NR>([&](auto r) {
      const uint8_t* g = rows + r * row_bytes + b / 8 * kGroupBytes<U>;
      if constexpr (NR == 1) {
        PrefetchAhead(g, kGroupBytes<U>);  // one row streams: ahead along it, into the next
      } else {
        // The same group of the row NR rows below, which the next tile reads: the tile walks
        // NR rows in lockstep, so a prefetch further along this row would land on the rows
        // this tile reads anyway.
        for (int64_t o = 0; o < kGroupBytes<U>; o += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(g + NR * row_bytes + o), _MM_HINT_T0);
        }
      }
      __m256 scales, mins;
      U::Scales8(g, &scales, &mins);
      Unroll<NC>([&](auto c) {
        _mm256_store_ps(prod[r][c], _mm256_mul_ps(scales, xd[c]));
        _mm256_store_ps(min_sums[r][c], _mm256_fmadd_ps(mins, _mm256_loadu_ps(x[c].s + b),
                                                        _mm256_load_ps(min_sums[r][c])));
      });
    });
#pragma GCC unroll 2
    for (int j0 = 0; j0 < 8; j0 += kChains) {
      Unroll<kChains>([&](auto chain) {
        const int j = j0 + chain;
        __m256i xv[NC];
        Unroll<NC>([&](auto c) {
          xv[c] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[c].q + (b + j) * kQ8Block));
        });
        Unroll<NR>([&](auto r) {
          const __m256i w = GroupBlock<U>(rows + r * row_bytes + b / 8 * kGroupBytes<U>, j);
          Unroll<NC>([&](auto c) {
            const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, xv[c]);
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
        float scale, min;
        U::Scalar(blk, &scale, &min);
        for (int c = 0; c < NC; ++c) {
          const __m256i xv =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[c].q + b * kQ8Block));
          const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, xv);
          const int32_t isum = _mm512_reduce_add_epi32(_mm512_zextsi256_si512(p));
          tail[r][c] += scale * x[c].d[b] * static_cast<float>(isum) + min * x[c].s[b];
        }
      }
    }
  }
  // Compile-time indices here too: one runtime-indexed read of acc puts the whole array in
  // memory, and the loop above then stores every accumulator on every block.
  Unroll<NR>([&](auto r) {
    Unroll<NC>([&](auto c) {
      out[r * out_stride + c] = HorizontalSum(SumChains(acc[r][c])) +
                                HorizontalSum(_mm256_load_ps(min_sums[r][c])) + tail[r][c];
    });
  });
}

// Tile shape: four rows × four columns, or two × eight for the 5-bit types, whose unpack
// (nibbles plus a masked add of the fifth bits) is the costliest and so is shared by eight
// columns (kernels_bench BM_GemmFast, Q5_1 at 64-512 columns).
template <class U>
constexpr int kTileRows = U::kFiveBit ? 2 : 4;
template <class U>
constexpr int kTileCols = U::kFiveBit ? 8 : 4;

template <class U, int NC>
void Columns(const uint8_t* rows, uint64_t row_bytes, int64_t n_rows, int64_t k, const Q8View* x,
             int n_cols, float* out) {
  int64_t r = 0;
  if constexpr (NC == 1) {
    // A matrix-vector product is bound by the weight stream: one row at a time, prefetched
    // along the row, reads memory faster than four rows in lockstep (kernels_bench
    // BM_MatVecMemoryFast: 1.5-2x less CPU time per matrix).
    for (; r < n_rows; ++r) {
      Tile<U, 1, 1>(rows + r * row_bytes, row_bytes, k, x, out + r * n_cols, n_cols);
    }
  }
  for (; r + kTileRows<U> <= n_rows; r += kTileRows<U>) {
    Tile<U, kTileRows<U>, NC>(rows + r * row_bytes, row_bytes, k, x, out + r * n_cols, n_cols);
  }
  for (; r < n_rows; ++r)
    Tile<U, 1, NC>(rows + r * row_bytes, row_bytes, k, x, out + r * n_cols, n_cols);
}

template <class U>
void DotQ8(const uint8_t* rows, uint64_t row_bytes, int64_t n_rows, int64_t k, const Q8View* x,
           int n_cols, float* out) {
  constexpr int kCols = kTileCols<U>;
  for (int c0 = 0; c0 < n_cols; c0 += kCols) {
    const int nc = n_cols - c0 < kCols ? n_cols - c0 : kCols;
    WithColumns<kCols>(nc, [&](auto n) {
      Columns<U, decltype(n)::value>(rows, row_bytes, n_rows, k, x + c0, n_cols, out + c0);
    });
  }
}

// The lane GEMM's unpacker: every block's 32 unsigned bytes in element order, its scale and min.
template <class U>
void UnpackRow(const uint8_t* row, int64_t k, uint8_t* u, float* scale, float* min) {
  const int64_t nb = k / kQ8Block;
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {  // scales and mins eight blocks at a time, built in registers
    const uint8_t* g = row + b / 8 * kGroupBytes<U>;
    __m256 sc, mn;
    U::Scales8(g, &sc, &mn);
    _mm256_storeu_ps(scale + b, sc);
    _mm256_storeu_ps(min + b, mn);
    Unroll<8>([&](auto j) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(u + (b + j) * kQ8Block), GroupBlock<U>(g, j));
    });
  }
  if constexpr (U::kBlocks == 1) {
    for (; b < nb; ++b) {
      const uint8_t* blk = row + b * U::kBytes;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(u + b * kQ8Block), U::Bytes(blk));
      U::Scalar(blk, scale + b, min + b);
    }
  }
}

// kOffset: the fixed zero point of the type's unsigned bytes (0 where a min is stored).
template <GgmlType kType, class U, int kOffset>
void Set(KernelTable& t) {
  TypeKernels& tk = t.types[static_cast<uint32_t>(kType)];
  tk.dot_q8 = &DotQ8<U>;
  tk.unpack_q8 = &UnpackRow<U>;
  tk.q8_offset = kOffset;
}

}  // namespace
}  // namespace rwkv::engine::cpu::avx512

namespace rwkv::engine::cpu {

void FillAvx512Q8Kernels(KernelTable& t) {
  using namespace avx512;  // NOLINT: the kernels of this ISA
  Set<GgmlType::kQ8_0, Q8_0, 128>(t);
  Set<GgmlType::kQ4_0, Q4_0, 8>(t);
  Set<GgmlType::kQ4_1, Q4_1, 0>(t);
  Set<GgmlType::kQ5_0, Q5_0, 16>(t);
  Set<GgmlType::kQ5_1, Q5_1, 0>(t);
  Set<GgmlType::kQ4_K, Q4_K, 0>(t);
  Set<GgmlType::kQ5_K, Q5_K, 0>(t);
  t.q8_gemm_cols = 0;  // the 8-bit products beat the 512-bit f32 GEMM at every width
  FillAvx512Q8Lanes(t);
}

}  // namespace rwkv::engine::cpu
