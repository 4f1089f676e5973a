// Scalar dequantization of the weight types the CPU backend multiplies (rwkv6-spec.md §2.4,
// §2.6). Used by the scalar kernel table, by Embed, and as the shape of every SIMD unpacker.
#include <cstring>

#include "backend/cpu/kernels.h"
#include "rwkv/engine/fp16.h"

namespace rwkv::engine::cpu {
namespace {

inline float F16At(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return Fp16ToFp32(h);
}

void Q4_0(const uint8_t* b, float* out, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 18, out += 32) {
    const float d = F16At(b);
    const uint8_t* qs = b + 2;
    for (int j = 0; j < 16; ++j) {
      out[j] = d * static_cast<float>((qs[j] & 0x0F) - 8);
      out[j + 16] = d * static_cast<float>((qs[j] >> 4) - 8);
    }
  }
}

void Q4_1(const uint8_t* b, float* out, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 20, out += 32) {
    const float d = F16At(b);
    const float m = F16At(b + 2);
    const uint8_t* qs = b + 4;
    for (int j = 0; j < 16; ++j) {
      out[j] = d * static_cast<float>(qs[j] & 0x0F) + m;
      out[j + 16] = d * static_cast<float>(qs[j] >> 4) + m;
    }
  }
}

void Q5_0(const uint8_t* b, float* out, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 22, out += 32) {
    const float d = F16At(b);
    uint32_t qh;
    std::memcpy(&qh, b + 2, 4);
    const uint8_t* qs = b + 6;
    for (int j = 0; j < 16; ++j) {
      const int lo = (qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1) << 4);
      const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
      out[j] = d * static_cast<float>(lo - 16);
      out[j + 16] = d * static_cast<float>(hi - 16);
    }
  }
}

void Q5_1(const uint8_t* b, float* out, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 24, out += 32) {
    const float d = F16At(b);
    const float m = F16At(b + 2);
    uint32_t qh;
    std::memcpy(&qh, b + 4, 4);
    const uint8_t* qs = b + 8;
    for (int j = 0; j < 16; ++j) {
      const int lo = (qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1) << 4);
      const int hi = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
      out[j] = d * static_cast<float>(lo) + m;
      out[j + 16] = d * static_cast<float>(hi) + m;
    }
  }
}

void Q8_0(const uint8_t* b, float* out, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 34, out += 32) {
    const float d = F16At(b);
    const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
    for (int j = 0; j < 32; ++j) out[j] = d * static_cast<float>(qs[j]);
  }
}

}  // namespace

void DecodeScaleMinK4(const uint8_t* scales, int j, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = scales[j] & 63;
    *m = scales[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

namespace {

void Q4_K(const uint8_t* b, float* out, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 144, out += 256) {
    const float d = F16At(b);
    const float dmin = F16At(b + 2);
    const uint8_t* scales = b + 4;
    const uint8_t* qs = b + 16;
    for (int c = 0; c < 4; ++c) {
      uint8_t sc0, m0, sc1, m1;
      DecodeScaleMinK4(scales, 2 * c, &sc0, &m0);
      DecodeScaleMinK4(scales, 2 * c + 1, &sc1, &m1);
      const float d0 = d * sc0, m0f = dmin * m0, d1 = d * sc1, m1f = dmin * m1;
      for (int l = 0; l < 32; ++l) {
        out[64 * c + l] = d0 * static_cast<float>(qs[32 * c + l] & 0x0F) - m0f;
        out[64 * c + 32 + l] = d1 * static_cast<float>(qs[32 * c + l] >> 4) - m1f;
      }
    }
  }
}

void Q5_K(const uint8_t* b, float* out, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 176, out += 256) {
    const float d = F16At(b);
    const float dmin = F16At(b + 2);
    const uint8_t* scales = b + 4;
    const uint8_t* qh = b + 16;
    const uint8_t* qs = b + 48;
    for (int c = 0; c < 4; ++c) {
      uint8_t sc0, m0, sc1, m1;
      DecodeScaleMinK4(scales, 2 * c, &sc0, &m0);
      DecodeScaleMinK4(scales, 2 * c + 1, &sc1, &m1);
      const float d0 = d * sc0, m0f = dmin * m0, d1 = d * sc1, m1f = dmin * m1;
      for (int l = 0; l < 32; ++l) {
        const int lo = (qs[32 * c + l] & 0x0F) | (((qh[l] >> (2 * c)) & 1) << 4);
        const int hi = (qs[32 * c + l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
        out[64 * c + l] = d0 * static_cast<float>(lo) - m0f;
        out[64 * c + 32 + l] = d1 * static_cast<float>(hi) - m1f;
      }
    }
  }
}

void Q6_K(const uint8_t* b, float* out, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, b += 210, out += 256) {
    const uint8_t* ql = b;
    const uint8_t* qh = b + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
    const float d = F16At(b + 208);
    for (int h = 0; h < 2; ++h) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t hb = qh[32 * h + l];
        const int q1 = (ql[64 * h + l] & 0x0F) | ((hb & 3) << 4);
        const int q2 = (ql[64 * h + 32 + l] & 0x0F) | (((hb >> 2) & 3) << 4);
        const int q3 = (ql[64 * h + l] >> 4) | (((hb >> 4) & 3) << 4);
        const int q4 = (ql[64 * h + 32 + l] >> 4) | (((hb >> 6) & 3) << 4);
        const int e = 128 * h + l;
        out[e] = d * static_cast<float>(sc[e / 16]) * static_cast<float>(q1 - 32);
        out[e + 32] = d * static_cast<float>(sc[(e + 32) / 16]) * static_cast<float>(q2 - 32);
        out[e + 64] = d * static_cast<float>(sc[(e + 64) / 16]) * static_cast<float>(q3 - 32);
        out[e + 96] = d * static_cast<float>(sc[(e + 96) / 16]) * static_cast<float>(q4 - 32);
      }
    }
  }
}

}  // namespace

bool IsSupportedWeightType(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return true;
    default:
      return false;
  }
}

void DequantizeRow(GgmlType type, const uint8_t* row, float* out, int64_t k) {
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(out, row, static_cast<size_t>(k) * 4);
      return;
    case GgmlType::kF16:
      for (int64_t i = 0; i < k; ++i) out[i] = F16At(row + 2 * i);
      return;
    case GgmlType::kBF16:
      for (int64_t i = 0; i < k; ++i) {
        uint16_t h;
        std::memcpy(&h, row + 2 * i, 2);
        out[i] = Bf16ToFp32(h);
      }
      return;
    case GgmlType::kQ4_0:
      return Q4_0(row, out, k / 32);
    case GgmlType::kQ4_1:
      return Q4_1(row, out, k / 32);
    case GgmlType::kQ5_0:
      return Q5_0(row, out, k / 32);
    case GgmlType::kQ5_1:
      return Q5_1(row, out, k / 32);
    case GgmlType::kQ8_0:
      return Q8_0(row, out, k / 32);
    case GgmlType::kQ4_K:
      return Q4_K(row, out, k / 256);
    case GgmlType::kQ5_K:
      return Q5_K(row, out, k / 256);
    case GgmlType::kQ6_K:
      return Q6_K(row, out, k / 256);
    default:
      for (int64_t i = 0; i < k; ++i) out[i] = 0.0f;
      return;
  }
}

}  // namespace rwkv::engine::cpu
