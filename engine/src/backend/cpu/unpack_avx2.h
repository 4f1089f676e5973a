// AVX2 block unpackers: one 32-element block of a quantized weight row becomes 32 int16
// values q (two vectors, elements 0-15 and 16-31) with weight = scale·q + min. Include only
// from *_avx2.cc and *_avx512.cc files (see simd_avx2.h for the namespace).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <utility>

#include "backend/cpu/kernels.h"
#include "backend/cpu/simd_avx2.h"
#include "rwkv/engine/fp16.h"

namespace rwkv::engine::cpu::RWKV_X86_NAMESPACE {

// ---- block-quantized weights ----------------------------------------------------------
//
// An unpacker turns 32-element block j of a super-block into 32 int16 weights q (two
// vectors, elements 0-15 and 16-31) with weight = scale·q + min:
//   Quants(sb, j, lo, hi)      the 32 q of block j;
//   Scales8(p, scale, min)     the eight blocks' scales and mins as vectors, for the eight
//                              legacy blocks starting at p or the K-quant super-block p;
//   Block(sb, ctx, j, ...)     Quants plus block j's scale and min as floats (ctx from
//                              Super), for kernels that use one block at a time.
// Scales8 builds its vectors in registers: eight scalar stores read back as one vector
// cannot be store-forwarded and stall every group of blocks.

inline int Load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Eight f16 values kStride bytes apart, starting at p, as f32.
template <int kStride, size_t... I>
inline __m256 F16Strided8(const uint8_t* p, std::index_sequence<I...>) {
  __m128i h = _mm_setzero_si128();
  ((h = _mm_insert_epi16(h, Load16(p + I * kStride), I)), ...);
  return _mm256_cvtph_ps(h);
}
template <int kStride>
inline __m256 F16Strided8(const uint8_t* p) {
  return F16Strided8<kStride>(p, std::make_index_sequence<8>());
}

// Legacy blocks (one 32-element block each): scale d at offset 0, the min (when stored) at
// offset 2, or a fixed offset folded into min = offset·d. Derived supplies Quants; this base
// gives the rest of the unpacker interface.
template <class Derived, int kBlockBytes, bool kStoredMin, int kOffset>
struct LegacyBlock {
  static constexpr int kBlocks = 1, kBytes = kBlockBytes;
  static constexpr bool kHasMin = kStoredMin || kOffset != 0;
  struct Ctx {};
  static void Super(const uint8_t*, Ctx&) {}
  static void Scales8(const uint8_t* p, __m256* scale, __m256* min) {
    *scale = F16Strided8<kBlockBytes>(p);
    if constexpr (kStoredMin) {
      *min = F16Strided8<kBlockBytes>(p + 2);
    } else {
      *min = _mm256_mul_ps(*scale, _mm256_set1_ps(static_cast<float>(kOffset)));
    }
  }
  static void Scalar(const uint8_t* b, float* scale, float* min) {
    *scale = F16At(b);
    *min = kStoredMin ? F16At(b + 2) : static_cast<float>(kOffset) * *scale;
  }
  static void Block(const uint8_t* b, const Ctx&, int j, __m256i* lo, __m256i* hi, float* scale,
                    float* min) {
    Derived::Quants(b, j, lo, hi);
    Scalar(b, scale, min);
  }
};

struct UnpackQ8_0 : LegacyBlock<UnpackQ8_0, 34, false, 0> {
  static void Quants(const uint8_t* b, int, __m256i* lo, __m256i* hi) {
    *lo = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2)));
    *hi = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 18)));
  }
};

inline void Split32(__m256i bytes, __m256i* lo, __m256i* hi, bool is_signed) {
  if (is_signed) {
    *lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(bytes));
    *hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(bytes, 1));
  } else {
    *lo = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(bytes));
    *hi = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(bytes, 1));
  }
}

// The 32 4-bit values of a legacy block straight to int16: zero-extending byte j leaves
// element j in the low nibble and element j + 16 in the high nibble of lane j.
inline void Nibbles16x2(const uint8_t* qs, __m256i* lo, __m256i* hi) {
  const __m256i w = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  *lo = _mm256_and_si256(w, _mm256_set1_epi16(0x0F));
  *hi = _mm256_srli_epi16(w, 4);
}

// The fifth bits of a legacy 5-bit block, for the Nibbles16x2 layout: lane j of *lo gets 16
// when bit j of qh is set, lane j of *hi when bit j + 16 is. Done in 16-bit lanes on
// broadcasts of qh's two halves, which needs no byte shuffles or widening.
alignas(32) inline constexpr uint16_t kBitOfLane[16] = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768};

inline void FifthBits16x2(const uint8_t* qh, __m256i* lo, __m256i* hi) {
  const __m256i bits = _mm256_load_si256(reinterpret_cast<const __m256i*>(kBitOfLane));
  const __m256i sixteen = _mm256_set1_epi16(16);
  const __m256i l = _mm256_set1_epi16(static_cast<int16_t>(Load16(qh)));
  const __m256i h = _mm256_set1_epi16(static_cast<int16_t>(Load16(qh + 2)));
  *lo = _mm256_and_si256(_mm256_cmpeq_epi16(_mm256_and_si256(l, bits), bits), sixteen);
  *hi = _mm256_and_si256(_mm256_cmpeq_epi16(_mm256_and_si256(h, bits), bits), sixteen);
}

inline void FiveBit16x2(const uint8_t* qh, const uint8_t* qs, __m256i* lo, __m256i* hi) {
  __m256i nl, nh, bl, bh;
  Nibbles16x2(qs, &nl, &nh);
  FifthBits16x2(qh, &bl, &bh);
  *lo = _mm256_or_si256(nl, bl);
  *hi = _mm256_or_si256(nh, bh);
}

// Q4_0's -8 and Q5_0's -16 are returned as min = offset·scale rather than subtracted from
// every element: the products then take the activation block's sum once.
struct UnpackQ4_0 : LegacyBlock<UnpackQ4_0, 18, false, -8> {
  static void Quants(const uint8_t* b, int, __m256i* lo, __m256i* hi) {
    Nibbles16x2(b + 2, lo, hi);
  }
};

struct UnpackQ4_1 : LegacyBlock<UnpackQ4_1, 20, true, 0> {
  static void Quants(const uint8_t* b, int, __m256i* lo, __m256i* hi) {
    Nibbles16x2(b + 4, lo, hi);
  }
};

struct UnpackQ5_0 : LegacyBlock<UnpackQ5_0, 22, false, -16> {
  static void Quants(const uint8_t* b, int, __m256i* lo, __m256i* hi) {
    FiveBit16x2(b + 2, b + 6, lo, hi);
  }
};

struct UnpackQ5_1 : LegacyBlock<UnpackQ5_1, 24, true, 0> {
  static void Quants(const uint8_t* b, int, __m256i* lo, __m256i* hi) {
    FiveBit16x2(b + 4, b + 8, lo, hi);
  }
};

struct KScales {
  float scale[8];
  float min[8];
};

// The eight 6-bit scales and mins of a Q4_K/Q5_K super-block (12 packed bytes after d and
// dmin): bytes 0-3 hold scales 0-3 (low 6 bits) and the top bits of scales 4-7, bytes 4-7
// the same for the mins, bytes 8-11 the low nibbles of scales 4-7 and mins 4-7.
inline void K4ScaleBytes(const uint8_t* sb, uint64_t* scales, uint64_t* mins) {
  uint32_t u[3];
  std::memcpy(u, sb + 4, 12);
  const uint64_t sc_lo = u[0] & 0x3F3F3F3Fu;
  const uint64_t sc_hi = (u[2] & 0x0F0F0F0Fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  const uint64_t mn_lo = u[1] & 0x3F3F3F3Fu;
  const uint64_t mn_hi = ((u[2] >> 4) & 0x0F0F0F0Fu) | (((u[1] >> 6) & 0x03030303u) << 4);
  *scales = sc_lo | (sc_hi << 32);
  *mins = mn_lo | (mn_hi << 32);
}

inline __m256 BytesToF32x8(uint64_t bytes) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(bytes))));
}

inline void K4Scales8(const uint8_t* sb, __m256* scale, __m256* min) {
  uint64_t sc, mn;
  K4ScaleBytes(sb, &sc, &mn);
  *scale = _mm256_mul_ps(BytesToF32x8(sc), _mm256_set1_ps(F16At(sb)));
  *min = _mm256_mul_ps(BytesToF32x8(mn), _mm256_set1_ps(-F16At(sb + 2)));
}

inline void DecodeK4(const uint8_t* sb, KScales& ctx) {
  const float d = F16At(sb);
  const float dmin = F16At(sb + 2);
  uint64_t sc, mn;
  K4ScaleBytes(sb, &sc, &mn);
  for (int j = 0; j < 8; ++j) {
    ctx.scale[j] = d * static_cast<float>((sc >> (8 * j)) & 0xFF);
    ctx.min[j] = -dmin * static_cast<float>((mn >> (8 * j)) & 0xFF);
  }
}

inline __m256i NibblesK(const uint8_t* qs, int j) {
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * (j / 2)));
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  return (j & 1) ? _mm256_and_si256(_mm256_srli_epi16(b, 4), m4) : _mm256_and_si256(b, m4);
}

struct UnpackQ4_K {
  static constexpr int kBlocks = 8, kBytes = 144;
  static constexpr bool kHasMin = true;
  using Ctx = KScales;
  static void Super(const uint8_t* sb, Ctx& ctx) { DecodeK4(sb, ctx); }
  static void Scales8(const uint8_t* sb, __m256* scale, __m256* min) { K4Scales8(sb, scale, min); }
  static void Quants(const uint8_t* sb, int j, __m256i* lo, __m256i* hi) {
    Split32(NibblesK(sb + 16, j), lo, hi, false);
  }
  static void Block(const uint8_t* sb, const Ctx& ctx, int j, __m256i* lo, __m256i* hi,
                    float* scale, float* min) {
    Quants(sb, j, lo, hi);
    *scale = ctx.scale[j];
    *min = ctx.min[j];
  }
};

// Sub-block j of a Q5_K super-block as 32 unsigned bytes (0-31): the nibbles plus bit j of
// each element's qh byte as the fifth bit.
inline __m256i BytesQ5K(const uint8_t* sb, int j) {
  const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 16));
  const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << j));
  const __m256i high =
      _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit), _mm256_set1_epi8(16));
  return _mm256_or_si256(NibblesK(sb + 48, j), high);
}

struct UnpackQ5_K {
  static constexpr int kBlocks = 8, kBytes = 176;
  static constexpr bool kHasMin = true;
  using Ctx = KScales;
  static void Super(const uint8_t* sb, Ctx& ctx) { DecodeK4(sb, ctx); }
  static void Scales8(const uint8_t* sb, __m256* scale, __m256* min) { K4Scales8(sb, scale, min); }
  static void Quants(const uint8_t* sb, int j, __m256i* lo, __m256i* hi) {
    Split32(BytesQ5K(sb, j), lo, hi, false);
  }
  static void Block(const uint8_t* sb, const Ctx& ctx, int j, __m256i* lo, __m256i* hi,
                    float* scale, float* min) {
    Quants(sb, j, lo, hi);
    *scale = ctx.scale[j];
    *min = ctx.min[j];
  }
};

// Q6_K's sixteen int8 sub-scales (one per 16 elements) are multiplied into the int16
// weights, which stay within ±32·128; the block scale is the super-block's d.
struct UnpackQ6_K {
  static constexpr int kBlocks = 8, kBytes = 210;
  static constexpr bool kHasMin = false;
  struct Ctx {
    float d;
  };
  static void Super(const uint8_t* sb, Ctx& ctx) { ctx.d = F16At(sb + 208); }
  static void Scales8(const uint8_t* sb, __m256* scale, __m256* min) {
    *scale = _mm256_set1_ps(F16At(sb + 208));
    *min = _mm256_setzero_ps();
  }
  // Block j's 32 weights as signed bytes in [-32, 31], before the sub-scales.
  static __m256i Bytes(const uint8_t* sb, int j) {
    const int h = j / 4, c = j % 4;
    const __m256i ql =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 64 * h + 32 * (c & 1)));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i nib =
        c < 2 ? _mm256_and_si256(ql, m4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4);
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 128 + 32 * h));
    const __m256i bits =
        _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c)), _mm256_set1_epi8(3));
    return _mm256_sub_epi8(_mm256_or_si256(nib, _mm256_slli_epi16(bits, 4)), _mm256_set1_epi8(32));
  }
  // The sub-scales of block j's two halves.
  static const int8_t* SubScales(const uint8_t* sb, int j) {
    return reinterpret_cast<const int8_t*>(sb + 192) + 2 * j;
  }
  static void Quants(const uint8_t* sb, int j, __m256i* lo, __m256i* hi) {
    Split32(Bytes(sb, j), lo, hi, true);
    const int8_t* sc = SubScales(sb, j);
    *lo = _mm256_mullo_epi16(*lo, _mm256_set1_epi16(sc[0]));
    *hi = _mm256_mullo_epi16(*hi, _mm256_set1_epi16(sc[1]));
  }
  static void Block(const uint8_t* sb, const Ctx& ctx, int j, __m256i* lo, __m256i* hi,
                    float* scale, float*) {
    Quants(sb, j, lo, hi);
    *scale = ctx.d;
  }
};

// For the 8-bit unpackers (U::Bytes: one block of 32 as bytes, from a legacy block, or from
// sub-block j of a K-quant super-block): the bytes of eight consecutive blocks, which the 8-bit
// tiles take as one group, and block j of a group.
template <class U>
constexpr int64_t kGroupBytes = U::kBlocks == 1 ? 8 * U::kBytes : U::kBytes;
template <class U>
inline __m256i GroupBlock(const uint8_t* group, int j) {
  if constexpr (U::kBlocks == 1) {
    return U::Bytes(group + j * U::kBytes);
  } else {
    return U::Bytes(group, j);
  }
}

}  // namespace rwkv::engine::cpu::RWKV_X86_NAMESPACE
