// The portable 8-bit products: the Q8 activation quantizer and the reference dot of a
// block-quantized weight row (legacy, Q4_K, Q5_K, Q6_K) with Q8 activations, block by block in
// exact integers.
// Every SIMD 8-bit kernel is tested against these.
#include <cmath>
#include <cstring>

#include "backend/cpu/kernels.h"
#include "quant/blocks.h"
#include "rwkv/engine/fp16.h"

namespace rwkv::engine::cpu {
namespace {

float F16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return Fp16ToFp32(h);
}

// One 32-element weight block as integers w[i] with weight = scale[i / 16]·w[i] + min: the
// legacy blocks and the 32-element sub-blocks of Q4_K/Q5_K have one scale (both halves equal),
// Q6_K's 16-element sub-blocks one each.
struct Block {
  int w[32];
  float scale[2];
  float min;
};

// Legacy block b of a row.
template <GgmlType kType>
void ReadLegacy(const uint8_t* b, Block& out) {
  const float scale = F16(b);
  out.scale[0] = out.scale[1] = scale;
  out.min = 0.0f;
  if constexpr (kType == GgmlType::kQ8_0) {
    for (int i = 0; i < 32; ++i) out.w[i] = static_cast<int8_t>(b[2 + i]);
  } else {
    constexpr bool kHasMin = kType == GgmlType::kQ4_1 || kType == GgmlType::kQ5_1;
    constexpr bool kFive = kType == GgmlType::kQ5_0 || kType == GgmlType::kQ5_1;
    const uint8_t* p = b + 2;
    if constexpr (kHasMin) {
      out.min = F16(p);
      p += 2;
    }
    uint32_t qh = 0;
    if constexpr (kFive) {
      std::memcpy(&qh, p, 4);
      p += 4;
    }
    const int offset = kHasMin ? 0 : (kFive ? 16 : 8);
    for (int i = 0; i < 16; ++i) {
      int lo = p[i] & 0x0F, hi = p[i] >> 4;
      if constexpr (kFive) {
        lo |= static_cast<int>((qh >> i) & 1u) << 4;
        hi |= static_cast<int>((qh >> (i + 16)) & 1u) << 4;
      }
      out.w[i] = lo - offset;
      out.w[i + 16] = hi - offset;
    }
  }
}

// Sub-block j (0-7) of a Q4_K/Q5_K super-block: weight = d·sc_j·q − dmin·m_j.
template <GgmlType kType>
void ReadK4(const uint8_t* sb, int j, Block& out) {
  const auto* blk = reinterpret_cast<const quant::BlockQ4_K*>(sb);
  uint8_t sc, m;
  quant::GetScaleMinK4(j, blk->scales, &sc, &m);
  out.scale[0] = out.scale[1] = F16(sb) * sc;
  out.min = -F16(sb + 2) * m;
  const uint8_t* qs = sb + (kType == GgmlType::kQ5_K ? 48 : 16) + 32 * (j / 2);
  for (int i = 0; i < 32; ++i) {
    int q = (j % 2 == 0) ? (qs[i] & 0x0F) : (qs[i] >> 4);
    if constexpr (kType == GgmlType::kQ5_K) q |= ((sb[16 + i] >> j) & 1) << 4;
    out.w[i] = q;
  }
}

// Elements 32j .. 32j + 31 of a Q6_K super-block: weight = d·sc[i / 16]·(q − 32).
void ReadQ6K(const uint8_t* sb, int j, Block& out) {
  const auto* blk = reinterpret_cast<const quant::BlockQ6_K*>(sb);
  const int half = j / 4, quarter = j % 4;
  const uint8_t* ql = blk->ql + 64 * half + 32 * (quarter % 2);
  const uint8_t* qh = blk->qh + 32 * half;
  for (int i = 0; i < 32; ++i) {
    const int lo = quarter < 2 ? (ql[i] & 0x0F) : (ql[i] >> 4);
    const int hi = (qh[i] >> (2 * quarter)) & 3;
    out.w[i] = (lo | (hi << 4)) - 32;
  }
  const float d = F16(sb + 208);
  out.scale[0] = d * blk->scales[2 * j];
  out.scale[1] = d * blk->scales[2 * j + 1];
  out.min = 0.0f;
}

constexpr bool IsKQuant(GgmlType type) {
  return type == GgmlType::kQ4_K || type == GgmlType::kQ5_K || type == GgmlType::kQ6_K;
}

// Block b (32 elements) of a row.
template <GgmlType kType>
void ReadBlock(const uint8_t* row, int64_t b, Block& out) {
  if constexpr (IsKQuant(kType)) {
    const uint8_t* sb = row + (b / 8) * RowBytes(kType, 256);
    const int j = static_cast<int>(b % 8);
    if constexpr (kType == GgmlType::kQ6_K) {
      ReadQ6K(sb, j, out);
    } else {
      ReadK4<kType>(sb, j, out);
    }
  } else {
    ReadLegacy<kType>(row + b * RowBytes(kType, kQ8Block), out);
  }
}

template <GgmlType kType>
void DotQ8Scalar(const uint8_t* rows, uint64_t row_bytes, int64_t n_rows, int64_t k,
                 const Q8View* x, int n_cols, float* out) {
  const int64_t nb = k / kQ8Block;
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* row = rows + r * row_bytes;
    for (int c = 0; c < n_cols; ++c) {
      double sum = 0.0;
      Block blk;
      for (int64_t b = 0; b < nb; ++b) {
        ReadBlock<kType>(row, b, blk);
        const int8_t* xq = x[c].q + b * kQ8Block;
        for (int h = 0; h < 2; ++h) {
          int32_t isum = 0;
          for (int i = 16 * h; i < 16 * h + 16; ++i) isum += blk.w[i] * xq[i];
          sum += static_cast<double>(blk.scale[h]) * x[c].d[b] * isum;
        }
        sum += static_cast<double>(blk.min) * x[c].s[b];
      }
      out[r * n_cols + c] = static_cast<float>(sum);
    }
  }
}

template <GgmlType kType>
void Set(KernelTable& t) {
  t.types[static_cast<uint32_t>(kType)].dot_q8 = &DotQ8Scalar<kType>;
}

}  // namespace

void QuantizeQ8Scalar(const float* x, int64_t k, int8_t* q, float* d, float* s) {
  for (int64_t b = 0; b < k / kQ8Block; ++b) {
    const float* xb = x + b * kQ8Block;
    float amax = 0.0f;
    for (int i = 0; i < kQ8Block; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
    const float db = amax / 127.0f;
    const float id = db != 0.0f ? 1.0f / db : 0.0f;
    int32_t sum = 0;
    for (int i = 0; i < kQ8Block; ++i) {
      float v = std::round(xb[i] * id);
      v = std::fmin(127.0f, std::fmax(-127.0f, v));
      q[b * kQ8Block + i] = static_cast<int8_t>(v);
      sum += static_cast<int32_t>(v);
    }
    d[b] = db;
    s[b] = db * static_cast<float>(sum);
  }
}

void FillScalarQ8Kernels(KernelTable& t) {
  Set<GgmlType::kQ8_0>(t);
  Set<GgmlType::kQ4_0>(t);
  Set<GgmlType::kQ4_1>(t);
  Set<GgmlType::kQ5_0>(t);
  Set<GgmlType::kQ5_1>(t);
  Set<GgmlType::kQ4_K>(t);
  Set<GgmlType::kQ5_K>(t);
  Set<GgmlType::kQ6_K>(t);
  t.quantize_q8 = &QuantizeQ8Scalar;
}

}  // namespace rwkv::engine::cpu
