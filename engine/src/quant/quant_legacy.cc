#include "quant/quant_legacy.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/quant_legacy_avx2.h"
#include "rwkv/engine/fp16.h"

namespace rwkv::engine::quant {
namespace {

// `a·b + c` rounded once (fused) or twice (unfused). The module builds with
// -ffp-contract=off, so the unfused form is never contracted behind our back.
inline float MulAdd(float a, float b, float c, FmaMode fma) {
  return fma == FmaMode::kFused ? std::fmaf(a, b, c) : a * b + c;
}

// The value with the largest magnitude, the first one on ties, sign kept.
inline float SignedAbsMax(const float* x, int n) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < n; ++j) {
    const float v = x[j];
    if (amax < std::fabs(v)) {
      amax = std::fabs(v);
      max = v;
    }
  }
  return max;
}

inline void MinMax(const float* x, int n, float* mn, float* mx) {
  float lo = FLT_MAX;
  float hi = -FLT_MAX;
  for (int j = 0; j < n; ++j) {
    if (x[j] < lo) lo = x[j];
    if (x[j] > hi) hi = x[j];
  }
  *mn = lo;
  *mx = hi;
}

inline float AbsMax(const float* x, int n) {
  float amax = 0.0f;
  for (int j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
  return amax;
}

inline uint32_t LoadQh(const uint8_t* qh) {
  uint32_t v;
  std::memcpy(&v, qh, sizeof(v));
  return v;
}

}  // namespace

bool HaveAvx2Quantizers() {
#if defined(RWKV_HAVE_X86_VARIANTS)
  static const bool have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return have;
#else
  return false;
#endif
}

void QuantizeRowQ4_0(const float* x, void* y_out, int64_t n, FmaMode fma) {
#if defined(RWKV_HAVE_X86_VARIANTS)
  if (HaveAvx2Quantizers()) return QuantizeRowQ4_0Avx2(x, y_out, n, fma);
#endif
  QuantizeRowQ4_0Scalar(x, y_out, n, fma);
}

void QuantizeRowQ4_0Scalar(const float* x, void* y_out, int64_t n, FmaMode fma) {
  auto* y = static_cast<BlockQ4_0*>(y_out);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    const float d = SignedAbsMax(x, kQK) / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::min(15, TruncToInt(MulAdd(x[j], id, 8.5f, fma)));
      const int q1 = std::min(15, TruncToInt(MulAdd(x[j + kQK / 2], id, 8.5f, fma)));
      y[i].qs[j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
    }
  }
}

void QuantizeRowQ4_1(const float* x, void* y_out, int64_t n, FmaMode fma) {
#if defined(RWKV_HAVE_X86_VARIANTS)
  if (HaveAvx2Quantizers()) return QuantizeRowQ4_1Avx2(x, y_out, n, fma);
#endif
  QuantizeRowQ4_1Scalar(x, y_out, n, fma);
}

void QuantizeRowQ4_1Scalar(const float* x, void* y_out, int64_t n, FmaMode fma) {
  auto* y = static_cast<BlockQ4_1*>(y_out);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    float mn, mx;
    MinMax(x, kQK, &mn, &mx);
    const float d = (mx - mn) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    y[i].m = Fp32ToFp16(mn);
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::min(15, TruncToInt(MulAdd(x[j] - mn, id, 0.5f, fma)));
      const int q1 = std::min(15, TruncToInt(MulAdd(x[j + kQK / 2] - mn, id, 0.5f, fma)));
      y[i].qs[j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
    }
  }
}

void QuantizeRowQ5_0(const float* x, void* y_out, int64_t n, FmaMode fma) {
#if defined(RWKV_HAVE_X86_VARIANTS)
  if (HaveAvx2Quantizers()) return QuantizeRowQ5_0Avx2(x, y_out, n, fma);
#endif
  QuantizeRowQ5_0Scalar(x, y_out, n, fma);
}

void QuantizeRowQ5_0Scalar(const float* x, void* y_out, int64_t n, FmaMode fma) {
  auto* y = static_cast<BlockQ5_0*>(y_out);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    const float d = SignedAbsMax(x, kQK) / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int q0 = std::min(31, TruncToInt(MulAdd(x[j], id, 16.5f, fma)));
      const int q1 = std::min(31, TruncToInt(MulAdd(x[j + kQK / 2], id, 16.5f, fma)));
      y[i].qs[j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
      qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + kQK / 2);
    }
    std::memcpy(y[i].qh, &qh, sizeof(qh));
  }
}

void QuantizeRowQ5_1(const float* x, void* y_out, int64_t n, FmaMode fma) {
#if defined(RWKV_HAVE_X86_VARIANTS)
  if (HaveAvx2Quantizers()) return QuantizeRowQ5_1Avx2(x, y_out, n, fma);
#endif
  QuantizeRowQ5_1Scalar(x, y_out, n, fma);
}

void QuantizeRowQ5_1Scalar(const float* x, void* y_out, int64_t n, FmaMode fma) {
  auto* y = static_cast<BlockQ5_1*>(y_out);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    float mn, mx;
    MinMax(x, kQK, &mn, &mx);
    const float d = (mx - mn) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    y[i].m = Fp32ToFp16(mn);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      // No clamp here, as in the reference: the value cannot exceed 31.5 for finite input.
      const int q0 = TruncToInt(MulAdd(x[j] - mn, id, 0.5f, fma));
      const int q1 = TruncToInt(MulAdd(x[j + kQK / 2] - mn, id, 0.5f, fma));
      y[i].qs[j] = static_cast<uint8_t>((q0 & 0xF) | ((q1 & 0xF) << 4));
      qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + kQK / 2);
    }
    std::memcpy(y[i].qh, &qh, sizeof(qh));
  }
}

void QuantizeRowQ8_0(const float* x, void* y_out, int64_t n) {
#if defined(RWKV_HAVE_X86_VARIANTS)
  if (HaveAvx2Quantizers()) return QuantizeRowQ8_0Avx2(x, y_out, n);
#endif
  QuantizeRowQ8_0Scalar(x, y_out, n);
}

void QuantizeRowQ8_0Scalar(const float* x, void* y_out, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(y_out);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    const float d = AbsMax(x, kQK) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    for (int j = 0; j < kQK; ++j) {
      y[i].qs[j] = static_cast<int8_t>(RoundHalfAwayToInt(x[j] * id));
    }
  }
}

void QuantizeRowQ8_1(const float* x, void* y_out, int64_t n) {
  auto* y = static_cast<BlockQ8_1*>(y_out);
  for (int64_t i = 0; i < n / kQK; ++i, x += kQK) {
    const float d = AbsMax(x, kQK) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    int sum = 0;
    for (int j = 0; j < kQK; ++j) {
      y[i].qs[j] = static_cast<int8_t>(RoundHalfAwayToInt(x[j] * id));
      sum += y[i].qs[j];
    }
    y[i].s = Fp32ToFp16(static_cast<float>(sum) * d);
  }
}

void DequantizeRowQ4_0(const void* x_in, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ4_0*>(x_in);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const float d = Fp16ToFp32(x[i].d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>((x[i].qs[j] & 0xF) - 8) * d;
      y[j + kQK / 2] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void DequantizeRowQ4_1(const void* x_in, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ4_1*>(x_in);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const float d = Fp16ToFp32(x[i].d);
    const float m = Fp16ToFp32(x[i].m);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(x[i].qs[j] & 0xF) * d + m;
      y[j + kQK / 2] = static_cast<float>(x[i].qs[j] >> 4) * d + m;
    }
  }
}

void DequantizeRowQ5_0(const void* x_in, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ5_0*>(x_in);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const float d = Fp16ToFp32(x[i].d);
    const uint32_t qh = LoadQh(x[i].qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = static_cast<int>((qh >> j) & 1) << 4;
      const int h1 = static_cast<int>((qh >> (j + kQK / 2)) & 1) << 4;
      y[j] = static_cast<float>(((x[i].qs[j] & 0xF) | h0) - 16) * d;
      y[j + kQK / 2] = static_cast<float>(((x[i].qs[j] >> 4) | h1) - 16) * d;
    }
  }
}

void DequantizeRowQ5_1(const void* x_in, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ5_1*>(x_in);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const float d = Fp16ToFp32(x[i].d);
    const float m = Fp16ToFp32(x[i].m);
    const uint32_t qh = LoadQh(x[i].qh);
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = static_cast<int>((qh >> j) & 1) << 4;
      const int h1 = static_cast<int>((qh >> (j + kQK / 2)) & 1) << 4;
      y[j] = static_cast<float>((x[i].qs[j] & 0xF) | h0) * d + m;
      y[j + kQK / 2] = static_cast<float>((x[i].qs[j] >> 4) | h1) * d + m;
    }
  }
}

void DequantizeRowQ8_0(const void* x_in, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ8_0*>(x_in);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const float d = Fp16ToFp32(x[i].d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

void DequantizeRowQ8_1(const void* x_in, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ8_1*>(x_in);
  for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
    const float d = Fp16ToFp32(x[i].d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

}  // namespace rwkv::engine::quant
