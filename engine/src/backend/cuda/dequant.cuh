// Device-side decoding of every weight type, eight consecutive elements at a time, in the
// exact arithmetic of the scalar reference decoder (engine/src/quant): the mat-vec and tile
// kernels dequantize in registers with these. Block layouts: rwkv6-spec.md §2.4, §2.6.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace rwkv::engine::cuda {

enum TypeId : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kBF16 = 30,
};

__device__ __forceinline__ float HalfBits(const uint8_t* p) {
  const uint16_t bits = static_cast<uint16_t>(p[0] | (p[1] << 8));
  return __half2float(__ushort_as_half(bits));
}

__device__ __forceinline__ uint32_t Load32Unaligned(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

// The 6-bit scale and min of sub-block j of a Q4_K/Q5_K scales array.
__device__ __forceinline__ void ScaleMinK4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// A load that, with kStream, is marked evict-first (ld.global.cs): a product that reads each
// weight once keeps its weights from evicting what is reused (the activations in L1).
template <bool kStream, typename T>
__device__ __forceinline__ T Ld(const T* p) {
  if constexpr (kStream) {
    return __ldcs(p);
  } else {
    return *p;
  }
}

// Elements [e, e + 8) of a row (e a multiple of 8, e + 8 <= cols). kStream: the weight loads of
// the float types and Q8_0 are streaming loads (Ld).
template <uint32_t kType, bool kStream = false>
__device__ __forceinline__ void Dequant8(const uint8_t* row, int64_t e, float* w) {
  if constexpr (kType == kF32) {
    const float* p = reinterpret_cast<const float*>(row) + e;
    if ((reinterpret_cast<uintptr_t>(p) & 15) == 0) {
      const float4 a = Ld<kStream>(reinterpret_cast<const float4*>(p));
      const float4 b = Ld<kStream>(reinterpret_cast<const float4*>(p) + 1);
      w[0] = a.x, w[1] = a.y, w[2] = a.z, w[3] = a.w;
      w[4] = b.x, w[5] = b.y, w[6] = b.z, w[7] = b.w;
    } else {
      for (int i = 0; i < 8; ++i) w[i] = p[i];
    }
  } else if constexpr (kType == kF16) {
    const __half* p = reinterpret_cast<const __half*>(row) + e;
    if ((reinterpret_cast<uintptr_t>(p) & 15) == 0) {
      const uint4 v = Ld<kStream>(reinterpret_cast<const uint4*>(p));
      const __half2* h = reinterpret_cast<const __half2*>(&v);
      for (int i = 0; i < 4; ++i) {
        const float2 f = __half22float2(h[i]);
        w[2 * i] = f.x;
        w[2 * i + 1] = f.y;
      }
    } else {
      for (int i = 0; i < 8; ++i) w[i] = __half2float(p[i]);
    }
  } else if constexpr (kType == kBF16) {
    const uint16_t* p = reinterpret_cast<const uint16_t*>(row) + e;
    if ((reinterpret_cast<uintptr_t>(p) & 15) == 0) {
      const uint4 v = Ld<kStream>(reinterpret_cast<const uint4*>(p));
      const uint32_t u[4] = {v.x, v.y, v.z, v.w};
      for (int i = 0; i < 4; ++i) {
        w[2 * i] = __uint_as_float(u[i] << 16);
        w[2 * i + 1] = __uint_as_float(u[i] & 0xFFFF0000u);
      }
    } else {
      for (int i = 0; i < 8; ++i) w[i] = __uint_as_float(static_cast<uint32_t>(p[i]) << 16);
    }
  } else if constexpr (kType == kQ8_0) {
    // Blocks of 34 bytes: the scale and the quants are 2-byte aligned.
    const uint8_t* b = row + (e / 32) * 34;
    const float d =
        __half2float(__ushort_as_half(Ld<kStream>(reinterpret_cast<const unsigned short*>(b))));
    const unsigned short* q = reinterpret_cast<const unsigned short*>(b + 2 + e % 32);
    for (int i = 0; i < 4; ++i) {
      const unsigned short two = Ld<kStream>(q + i);
      w[2 * i] = static_cast<float>(static_cast<int8_t>(two & 0xFF)) * d;
      w[2 * i + 1] = static_cast<float>(static_cast<int8_t>(two >> 8)) * d;
    }
  } else if constexpr (kType == kQ4_0 || kType == kQ4_1) {
    constexpr int kBytes = kType == kQ4_0 ? 18 : 20;
    const uint8_t* b = row + (e / 32) * kBytes;
    const float d = HalfBits(b);
    const float m = kType == kQ4_1 ? HalfBits(b + 2) : 0.0f;
    const uint8_t* qs = b + (kType == kQ4_0 ? 2 : 4);
    const int j = static_cast<int>(e % 32);
    const int shift = j < 16 ? 0 : 4;
    const int j0 = j & 15;
    for (int i = 0; i < 8; ++i) {
      const int q = (qs[j0 + i] >> shift) & 0xF;
      if constexpr (kType == kQ4_0) {
        w[i] = static_cast<float>(q - 8) * d;
      } else {
        w[i] = static_cast<float>(q) * d + m;
      }
    }
  } else if constexpr (kType == kQ5_0 || kType == kQ5_1) {
    constexpr int kBytes = kType == kQ5_0 ? 22 : 24;
    const uint8_t* b = row + (e / 32) * kBytes;
    const float d = HalfBits(b);
    const float m = kType == kQ5_1 ? HalfBits(b + 2) : 0.0f;
    const uint8_t* qhp = b + (kType == kQ5_0 ? 2 : 4);
    const uint32_t qh = Load32Unaligned(qhp);
    const uint8_t* qs = qhp + 4;
    const int j = static_cast<int>(e % 32);
    const int shift = j < 16 ? 0 : 4;
    const int j0 = j & 15;
    for (int i = 0; i < 8; ++i) {
      const int q = ((qs[j0 + i] >> shift) & 0xF) | (static_cast<int>((qh >> (j + i)) & 1) << 4);
      if constexpr (kType == kQ5_0) {
        w[i] = static_cast<float>(q - 16) * d;
      } else {
        w[i] = static_cast<float>(q) * d + m;
      }
    }
  } else if constexpr (kType == kQ4_K || kType == kQ5_K) {
    constexpr int kBytes = kType == kQ4_K ? 144 : 176;
    const uint8_t* b = row + (e / 256) * kBytes;
    const int within = static_cast<int>(e % 256);
    const int chunk = within / 64, half = (within % 64) / 32, l0 = within % 32;
    int sc, mn;
    ScaleMinK4(2 * chunk + half, b + 4, &sc, &mn);
    const float d = HalfBits(b) * static_cast<float>(sc);
    const float m = HalfBits(b + 2) * static_cast<float>(mn);
    const uint8_t* qs = b + (kType == kQ4_K ? 16 : 48) + 32 * chunk + l0;
    const uint8_t* qh = b + 16 + l0;
    const int shift = half * 4;
    const int hbit = 2 * chunk + half;
    for (int i = 0; i < 8; ++i) {
      int q = (qs[i] >> shift) & 0xF;
      if constexpr (kType == kQ5_K) q += ((qh[i] >> hbit) & 1) ? 16 : 0;
      w[i] = d * static_cast<float>(q) - m;
    }
  } else if constexpr (kType == kQ6_K) {
    const uint8_t* b = row + (e / 256) * 210;
    const int within = static_cast<int>(e % 256);
    const int n128 = within / 128, r = within % 128, quarter = r / 32, l0 = r % 32;
    const float d = HalfBits(b + 208);
    const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192) + 8 * n128;
    const uint8_t* ql = b + 64 * n128 + l0 + (quarter & 1) * 32;
    const uint8_t* qh = b + 128 + 32 * n128 + l0;
    const int lshift = (quarter >> 1) * 4;
    const int hshift = quarter * 2;
    const float ds = d * static_cast<float>(scales[l0 / 16 + 2 * quarter]);
    for (int i = 0; i < 8; ++i) {
      const int q = (((ql[i] >> lshift) & 0xF) | (((qh[i] >> hshift) & 3) << 4)) - 32;
      w[i] = ds * static_cast<float>(q);
    }
  }
}

// One element of a float-typed row (the tails of rows whose length is not a multiple of 8).
template <uint32_t kType>
__device__ __forceinline__ float Dequant1(const uint8_t* row, int64_t e) {
  if constexpr (kType == kF32) {
    return reinterpret_cast<const float*>(row)[e];
  } else if constexpr (kType == kF16) {
    return __half2float(reinterpret_cast<const __half*>(row)[e]);
  } else if constexpr (kType == kBF16) {
    return __uint_as_float(static_cast<uint32_t>(reinterpret_cast<const uint16_t*>(row)[e]) << 16);
  } else {
    return 0.0f;  // block types always have whole blocks of 32
  }
}

// Calls fn.template operator()<kType>() for a runtime type id; false for unknown ids.
template <typename Fn>
bool DispatchType(uint32_t type, const Fn& fn) {
  switch (type) {
    case kF32:
      fn.template operator()<kF32>();
      return true;
    case kF16:
      fn.template operator()<kF16>();
      return true;
    case kBF16:
      fn.template operator()<kBF16>();
      return true;
    case kQ8_0:
      fn.template operator()<kQ8_0>();
      return true;
    case kQ4_0:
      fn.template operator()<kQ4_0>();
      return true;
    case kQ4_1:
      fn.template operator()<kQ4_1>();
      return true;
    case kQ5_0:
      fn.template operator()<kQ5_0>();
      return true;
    case kQ5_1:
      fn.template operator()<kQ5_1>();
      return true;
    case kQ4_K:
      fn.template operator()<kQ4_K>();
      return true;
    case kQ5_K:
      fn.template operator()<kQ5_K>();
      return true;
    case kQ6_K:
      fn.template operator()<kQ6_K>();
      return true;
    default:
      return false;
  }
}

}  // namespace rwkv::engine::cuda
