// The portable kernel table: exact f32 arithmetic, the oracle for every SIMD table.
#include <cmath>
#include <cstdlib>
#include <vector>

#include "backend/cpu/kernels.h"

namespace rwkv::engine::cpu {
namespace {

template <GgmlType kType>
void DotScalar(const uint8_t* rows, uint64_t row_bytes, int64_t n_rows, int64_t k,
               const float* const* x, int n_cols, float* out) {
  thread_local std::vector<float> w;
  if (static_cast<int64_t>(w.size()) < k) w.resize(static_cast<size_t>(k));
  for (int64_t r = 0; r < n_rows; ++r) {
    DequantizeRow(kType, rows + r * row_bytes, w.data(), k);
    for (int c = 0; c < n_cols; ++c) {
      const float* xc = x[c];
      float sum = 0.0f;
      for (int64_t i = 0; i < k; ++i) sum += w[i] * xc[i];
      out[r * n_cols + c] = sum;
    }
  }
}

void Wkv6Scalar(int64_t t_count, int64_t h_count, int64_t s, const float* r, const float* k,
                const float* v, const float* w, int64_t stride, const float* u, float* state,
                float* y) {
  for (int64_t t = 0; t < t_count; ++t) {
    const int64_t row = t * stride;
    for (int64_t h = 0; h < h_count; ++h) {
      float* st = state + h * s * s;
      float* yh = y + row + h * s;
      const float* vh = v + row + h * s;
      for (int64_t j = 0; j < s; ++j) yh[j] = 0.0f;
      for (int64_t i = 0; i < s; ++i) {
        const int64_t c = h * s + i;
        const float ki = k[row + c], ri = r[row + c], wi = w[row + c], ui = u[c];
        float* si = st + i * s;
        for (int64_t j = 0; j < s; ++j) {
          const float kv = ki * vh[j];
          yh[j] += ri * (ui * kv + si[j]);
          si[j] = wi * si[j] + kv;
        }
      }
    }
  }
}

template <GgmlType kType>
void SetF32(KernelTable& t) {
  TypeKernels& tk = t.types[static_cast<uint32_t>(kType)];
  tk.act = ActFormat::kF32;
  tk.dot_f32 = &DotScalar<kType>;
}

}  // namespace

void QuantizeQ16Scalar(const float* x, int64_t k, int16_t* q, float* d, float* s) {
  for (int64_t b = 0; b < k / kQ16Block; ++b) {
    const float* xb = x + b * kQ16Block;
    float amax = 0.0f;
    for (int i = 0; i < kQ16Block; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
    const float db = amax / 32767.0f;
    const float id = db != 0.0f ? 1.0f / db : 0.0f;
    int32_t sum = 0;
    for (int i = 0; i < kQ16Block; ++i) {
      float v = std::round(xb[i] * id);
      v = std::fmin(32767.0f, std::fmax(-32767.0f, v));
      q[b * kQ16Block + i] = static_cast<int16_t>(v);
      sum += static_cast<int32_t>(v);
    }
    d[b] = db;
    s[b] = db * static_cast<float>(sum);
  }
}

void FillScalarKernels(KernelTable& t) {
  t.isa = Isa::kScalar;
  SetF32<GgmlType::kF32>(t);
  SetF32<GgmlType::kF16>(t);
  SetF32<GgmlType::kBF16>(t);
  SetF32<GgmlType::kQ4_0>(t);
  SetF32<GgmlType::kQ4_1>(t);
  SetF32<GgmlType::kQ5_0>(t);
  SetF32<GgmlType::kQ5_1>(t);
  SetF32<GgmlType::kQ8_0>(t);
  SetF32<GgmlType::kQ4_K>(t);
  SetF32<GgmlType::kQ5_K>(t);
  SetF32<GgmlType::kQ6_K>(t);
  t.quantize_q16 = &QuantizeQ16Scalar;
  t.wkv6 = &Wkv6Scalar;
}

}  // namespace rwkv::engine::cpu
