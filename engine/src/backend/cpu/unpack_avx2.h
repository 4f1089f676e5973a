// AVX2 block unpackers: one 32-element block of a quantized weight row becomes 32 int16
// values q (two vectors, elements 0-15 and 16-31) with weight = scale·q + min. Include only
// from *_avx2.cc files.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "backend/cpu/kernels.h"
#include "backend/cpu/simd_avx2.h"
#include "rwkv/engine/fp16.h"

namespace rwkv::engine::cpu::avx2 {

// ---- block-quantized weights ----------------------------------------------------------
//
// An unpacker turns 32-element block j of a super-block into 32 int16 weights q (two
// vectors, elements 0-15 and 16-31) with weight = scale·q + min.

struct UnpackQ8_0 {
  static constexpr int kBlocks = 1, kBytes = 34;
  static constexpr bool kHasMin = false;
  struct Ctx {};
  static void Super(const uint8_t*, Ctx&) {}
  static void Block(const uint8_t* b, const Ctx&, int, __m256i* lo, __m256i* hi, float* scale,
                    float*) {
    *scale = F16At(b);
    *lo = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2)));
    *hi = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 18)));
  }
};

// The 32 4-bit values of a legacy block as bytes: element j (< 16) is the low nibble of
// qs[j], element j + 16 its high nibble.
inline __m256i Nibbles32(const uint8_t* qs) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(bytes, 4), bytes);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Byte i is 16 when bit i of `bits` is set, else 0.
inline __m256i HighBits32(uint32_t bits) {
  const __m256i shuffle = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                             0x0202020202020202, 0x0303030303030303);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), shuffle);
  const __m256i mask = _mm256_set1_epi64x(0x8040201008040201);
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bytes, mask), mask),
                          _mm256_set1_epi8(16));
}

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

struct UnpackQ4_0 {
  static constexpr int kBlocks = 1, kBytes = 18;
  static constexpr bool kHasMin = false;
  struct Ctx {};
  static void Super(const uint8_t*, Ctx&) {}
  static void Block(const uint8_t* b, const Ctx&, int, __m256i* lo, __m256i* hi, float* scale,
                    float*) {
    *scale = F16At(b);
    Nibbles16x2(b + 2, lo, hi);
    *lo = _mm256_sub_epi16(*lo, _mm256_set1_epi16(8));
    *hi = _mm256_sub_epi16(*hi, _mm256_set1_epi16(8));
  }
};

struct UnpackQ4_1 {
  static constexpr int kBlocks = 1, kBytes = 20;
  static constexpr bool kHasMin = true;
  struct Ctx {};
  static void Super(const uint8_t*, Ctx&) {}
  static void Block(const uint8_t* b, const Ctx&, int, __m256i* lo, __m256i* hi, float* scale,
                    float* min) {
    *scale = F16At(b);
    *min = F16At(b + 2);
    Nibbles16x2(b + 4, lo, hi);
  }
};

struct UnpackQ5_0 {
  static constexpr int kBlocks = 1, kBytes = 22;
  static constexpr bool kHasMin = false;
  struct Ctx {};
  static void Super(const uint8_t*, Ctx&) {}
  static void Block(const uint8_t* b, const Ctx&, int, __m256i* lo, __m256i* hi, float* scale,
                    float*) {
    *scale = F16At(b);
    uint32_t qh;
    std::memcpy(&qh, b + 2, 4);
    const __m256i q = _mm256_or_si256(Nibbles32(b + 6), HighBits32(qh));
    Split32(_mm256_sub_epi8(q, _mm256_set1_epi8(16)), lo, hi, true);
  }
};

struct UnpackQ5_1 {
  static constexpr int kBlocks = 1, kBytes = 24;
  static constexpr bool kHasMin = true;
  struct Ctx {};
  static void Super(const uint8_t*, Ctx&) {}
  static void Block(const uint8_t* b, const Ctx&, int, __m256i* lo, __m256i* hi, float* scale,
                    float* min) {
    *scale = F16At(b);
    *min = F16At(b + 2);
    uint32_t qh;
    std::memcpy(&qh, b + 4, 4);
    Split32(_mm256_or_si256(Nibbles32(b + 8), HighBits32(qh)), lo, hi, false);
  }
};

struct KScales {
  float scale[8];
  float min[8];
};

inline void DecodeK4(const uint8_t* sb, KScales& ctx) {
  const float d = F16At(sb);
  const float dmin = F16At(sb + 2);
  const uint8_t* q = sb + 4;
  for (int j = 0; j < 4; ++j) {
    ctx.scale[j] = d * static_cast<float>(q[j] & 63);
    ctx.min[j] = -dmin * static_cast<float>(q[j + 4] & 63);
    ctx.scale[j + 4] = d * static_cast<float>((q[j + 8] & 0x0F) | ((q[j] >> 6) << 4));
    ctx.min[j + 4] = -dmin * static_cast<float>((q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4));
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
  static void Block(const uint8_t* sb, const Ctx& ctx, int j, __m256i* lo, __m256i* hi,
                    float* scale, float* min) {
    *scale = ctx.scale[j];
    *min = ctx.min[j];
    Split32(NibblesK(sb + 16, j), lo, hi, false);
  }
};

struct UnpackQ5_K {
  static constexpr int kBlocks = 8, kBytes = 176;
  static constexpr bool kHasMin = true;
  using Ctx = KScales;
  static void Super(const uint8_t* sb, Ctx& ctx) { DecodeK4(sb, ctx); }
  static void Block(const uint8_t* sb, const Ctx& ctx, int j, __m256i* lo, __m256i* hi,
                    float* scale, float* min) {
    *scale = ctx.scale[j];
    *min = ctx.min[j];
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 16));
    const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << j));
    const __m256i high =
        _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit), _mm256_set1_epi8(16));
    Split32(_mm256_or_si256(NibblesK(sb + 48, j), high), lo, hi, false);
  }
};

struct UnpackQ6_K {
  static constexpr int kBlocks = 8, kBytes = 210;
  static constexpr bool kHasMin = false;
  struct Ctx {
    float d;
  };
  static void Super(const uint8_t* sb, Ctx& ctx) { ctx.d = F16At(sb + 208); }
  static void Block(const uint8_t* sb, const Ctx& ctx, int j, __m256i* lo, __m256i* hi,
                    float* scale, float*) {
    const int h = j / 4, c = j % 4;
    const __m256i ql =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 64 * h + 32 * (c & 1)));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i nib =
        c < 2 ? _mm256_and_si256(ql, m4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4);
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 128 + 32 * h));
    const __m256i bits =
        _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c)), _mm256_set1_epi8(3));
    const __m256i q =
        _mm256_sub_epi8(_mm256_or_si256(nib, _mm256_slli_epi16(bits, 4)), _mm256_set1_epi8(32));
    Split32(q, lo, hi, true);
    const int8_t* sc = reinterpret_cast<const int8_t*>(sb + 192);
    *lo = _mm256_mullo_epi16(*lo, _mm256_set1_epi16(sc[2 * j]));
    *hi = _mm256_mullo_epi16(*hi, _mm256_set1_epi16(sc[2 * j + 1]));
    *scale = ctx.d;
  }
};

}  // namespace rwkv::engine::cpu::avx2
