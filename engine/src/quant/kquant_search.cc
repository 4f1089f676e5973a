#include "quant/kquant_search.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace rwkv::engine::quant {
namespace {
constexpr float kGroupMaxEps = 1e-15f;
}  // namespace

int NearestInt(float v) {
  v = std::clamp(v, -4194303.0f, 4194303.0f);
  const float shifted = v + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  return (bits & 0x007FFFFF) - 0x00400000;
}

float MakeQkx2Quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                     float* the_min, uint8_t* laux, float rmin, float rdelta, int nstep) {
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, 0);
    *the_min = -min;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1.0f / iscale;
  float best_error = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = NearestInt(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * static_cast<float>(L[i]) + min - x[i];
    diff = diff * diff;
    best_error += weights[i] * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = NearestInt(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      const float lf = static_cast<float>(l);
      sum_l += w * lf;
      sum_l2 += w * lf * lf;
      sum_xl += w * lf * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * static_cast<float>(laux[i]) + this_min - x[i];
        diff = diff * diff;
        error += weights[i] * diff;
      }
      if (error < best_error) {
        std::copy(laux, laux + n, L);
        best_error = error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

float MakeQxQuants(int n, int nmax, const float* x, int8_t* L) {
  float max = 0;
  float amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, 0);
    return 0.0f;
  }
  const float fmax = static_cast<float>(nmax);
  auto quantize = [&](float iscale, int i) {
    const int l = NearestInt(iscale * x[i]);
    return std::max(-nmax, std::min(nmax - 1, l));
  };
  float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = quantize(iscale, i);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    const float lf = static_cast<float>(l);
    sumlx += w * x[i] * lf;
    suml2 += w * lf * lf;
  }
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(fmax + 0.1f * static_cast<float>(is)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const float lf = static_cast<float>(quantize(iscale, i));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * lf;
      suml2 += w * lf * lf;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + quantize(iscale, i));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

namespace {

bool UseAvx2() {
#if defined(RWKV_HAVE_X86_VARIANTS)
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2;
#else
  return false;
#endif
}

}  // namespace

void MakeQxQuantsGroups16(int n_groups, int nmax, const float* x, int8_t* L, float* scales) {
  int g = 0;
#if defined(RWKV_HAVE_X86_VARIANTS)
  if (UseAvx2()) {
    for (; g + 8 <= n_groups; g += 8) {
      MakeQxQuants16x8Avx2(nmax, x + 16 * g, L + 16 * g, scales + g);
    }
  }
#endif
  for (; g < n_groups; ++g) scales[g] = MakeQxQuants(16, nmax, x + 16 * g, L + 16 * g);
}

void MakeQkx2QuantsGroups32x8(int nmax, const float* x, const float* weights, uint8_t* L,
                              float* the_min, float* scales, float rmin, float rdelta, int nstep) {
#if defined(RWKV_HAVE_X86_VARIANTS)
  if (UseAvx2()) {
    return MakeQkx2Quants32x8Avx2(nmax, x, weights, L, the_min, scales, rmin, rdelta, nstep);
  }
#endif
  uint8_t laux[32];
  for (int g = 0; g < 8; ++g) {
    scales[g] = MakeQkx2Quants(32, nmax, x + 32 * g, weights + 32 * g, L + 32 * g, &the_min[g],
                               laux, rmin, rdelta, nstep);
  }
}

}  // namespace rwkv::engine::quant
