// CPU kernel parity: every SIMD kernel against the oracle (quant.h DequantizeRow, products
// in double), with the scalar table checked against the same oracle. TEST_P over
// table × op × type × shape, including edge shapes (one block, odd lengths, tails).
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "gtest/gtest.h"
#include "rwkv/engine/fp16.h"
#include "rwkv/engine/ggml_types.h"
#include "rwkv/engine/quant.h"

namespace rwkv::engine::cpu {
namespace {

// Squared error of `got` against `want`, normalized by `scale2` (Σ over the columns of the
// products' squared magnitudes Σ_i (w_i·x_i)²: a random-sign dot product can be much
// smaller than its terms, and rounding errors scale with the terms, not with the sum).
double Nmse(const std::vector<double>& want, const std::vector<float>& got, double scale2) {
  double num = 0;
  for (size_t i = 0; i < want.size(); ++i) num += (got[i] - want[i]) * (got[i] - want[i]);
  return scale2 > 0 ? num / scale2 : num;
}

double Nmse(const std::vector<double>& want, const std::vector<float>& got) {
  double den = 0;
  for (double v : want) den += v * v;
  return Nmse(want, got, den);
}

// Thresholds (normalized squared error against the double-precision oracle on the
// dequantized weights):
//  * f32 activations (all scalar kernels, SIMD float-weight kernels): f32 rounding of a sum
//    of up to ~10^4 products, relative error per term ~1e-7, so far below 1e-10.
//  * Q16 activations (SIMD quantized-weight kernels): each activation is rounded to 1/65534
//    of its 32-block's maximum; with block maxima up to ~12σ (the test plants 4σ outliers)
//    the expected normalized error is (12/65534)²/12 ≈ 3e-9; 1e-7 leaves margin while any
//    layout or scale bug gives ~1.
constexpr double kNmseF32 = 1e-10;
constexpr double kNmseQ16 = 1e-7;

struct DotCase {
  Isa isa;
  GgmlType type;
  int64_t k;
  int n_cols;
};

std::string Name(const ::testing::TestParamInfo<DotCase>& info) {
  return std::string(IsaName(info.param.isa)) + "_" + std::string(GgmlTypeName(info.param.type)) +
         "_k" + std::to_string(info.param.k) + "_c" + std::to_string(info.param.n_cols);
}

std::vector<DotCase> DotCases() {
  std::vector<DotCase> cases;
  const GgmlType types[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ8_0,
                            GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1,
                            GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    // Cases only for tables this build compiles; a CPU without the ISA skips them at run time.
    if (KernelsFor(isa) == nullptr) continue;
    for (GgmlType t : types) {
      const int64_t block = GetGgmlTypeInfo(t).block_size;
      std::vector<int64_t> ks = {block, 8 * 256, 7168};
      if (block == 1) ks.insert(ks.end(), {7, 33, 100});
      if (block == 32) ks.push_back(96);
      for (int64_t k : ks) {
        // Quantized types take Q16 activations on the SIMD tables: up to kMaxQ16Cols columns.
        const int max_cols = (block == 1 || isa == Isa::kScalar) ? kMaxCols : kMaxQ16Cols;
        for (int nc = 1; nc <= max_cols; ++nc) cases.push_back({isa, t, k, nc});
      }
    }
  }
  return cases;
}

class DotParityTest : public ::testing::TestWithParam<DotCase> {};

TEST_P(DotParityTest, MatchesDequantizedOracle) {
  const DotCase& c = GetParam();
  const KernelTable* table = KernelsFor(c.isa);
  if (table == nullptr || !CpuSupports(c.isa)) {
    GTEST_SKIP() << IsaName(c.isa) << " kernels are not available on this machine/build";
  }
  std::mt19937 rng(static_cast<uint32_t>(c.k * 31 + c.n_cols + static_cast<int>(c.type)));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(c.k);
  for (float& v : w) v = normal(rng);
  std::vector<uint8_t> row(RowBytes(c.type, c.k) + 64, 0xA5);  // tail guard bytes
  ASSERT_TRUE(::rwkv::engine::QuantizeRow(c.type, w.data(), row.data(), c.k).ok());
  std::vector<float> deq(c.k);
  ASSERT_TRUE(::rwkv::engine::DequantizeRow(c.type, row.data(), deq.data(), c.k).ok());

  std::vector<std::vector<float>> x(c.n_cols, std::vector<float>(c.k));
  std::vector<double> want(c.n_cols, 0.0);
  double scale2 = 0;
  for (int col = 0; col < c.n_cols; ++col) {
    for (int64_t i = 0; i < c.k; ++i) {
      // Columns of different scale, and one block-scale outlier per column.
      x[col][i] = normal(rng) * (1.0f + col) * (i % 97 == 5 ? 4.0f : 1.0f);
      const double term = static_cast<double>(deq[i]) * x[col][i];
      want[col] += term;
      scale2 += term * term;
    }
  }
  const TypeKernels& tk = table->For(c.type);
  std::vector<float> got(c.n_cols + 1, -1.0f);
  got[c.n_cols] = 12345.0f;  // guard
  if (tk.act == ActFormat::kF32) {
    ASSERT_NE(tk.dot_f32, nullptr);
    const float* xp[kMaxQ16Cols];
    for (int col = 0; col < c.n_cols; ++col) xp[col] = x[col].data();
    tk.dot_f32(row.data(), row.size(), 1, c.k, xp, c.n_cols, got.data());
  } else {
    ASSERT_NE(tk.dot_q16, nullptr);
    ASSERT_EQ(c.k % kQ16Block, 0);
    std::vector<std::vector<int16_t>> q(c.n_cols, std::vector<int16_t>(c.k));
    std::vector<std::vector<float>> d(c.n_cols, std::vector<float>(c.k / 32));
    std::vector<std::vector<float>> s(c.n_cols, std::vector<float>(c.k / 32));
    Q16View views[kMaxQ16Cols];
    for (int col = 0; col < c.n_cols; ++col) {
      table->quantize_q16(x[col].data(), c.k, q[col].data(), d[col].data(), s[col].data());
      views[col] = {q[col].data(), d[col].data(), s[col].data()};
    }
    tk.dot_q16(row.data(), row.size(), 1, c.k, views, c.n_cols, got.data());
  }
  EXPECT_EQ(got[c.n_cols], 12345.0f) << "wrote past the requested columns";
  const double threshold = tk.act == ActFormat::kF32 ? kNmseF32 : kNmseQ16;
  got.resize(c.n_cols);
  EXPECT_LE(Nmse(want, got, scale2), threshold);
}

INSTANTIATE_TEST_SUITE_P(Kernels, DotParityTest, ::testing::ValuesIn(DotCases()), Name);

// Q16 activation quantizers: the SIMD one rounds half to even, the scalar one half away from
// zero, so values may differ by one step on exact ties and nowhere else.
TEST(QuantizeQ16ParityTest, SimdMatchesScalar) {
  const KernelTable* simd = KernelsFor(Isa::kAvx2);
  if (simd == nullptr || !CpuSupports(Isa::kAvx2)) GTEST_SKIP() << "no avx2";
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  const int64_t k = 4096;
  std::vector<float> x(k);
  for (float& v : x) v = normal(rng);
  for (int i = 0; i < 32; ++i) x[64 + i] = 0.0f;  // an all-zero block
  std::vector<int16_t> q1(k), q2(k);
  std::vector<float> d1(k / 32), d2(k / 32), s1(k / 32), s2(k / 32);
  QuantizeQ16Scalar(x.data(), k, q1.data(), d1.data(), s1.data());
  simd->quantize_q16(x.data(), k, q2.data(), d2.data(), s2.data());
  for (int64_t i = 0; i < k; ++i) ASSERT_LE(std::abs(q1[i] - q2[i]), 1) << i;
  for (int64_t b = 0; b < k / 32; ++b) {
    ASSERT_EQ(d1[b], d2[b]) << b;
    ASSERT_NEAR(s1[b], s2[b], 32 * d1[b]) << b;
  }
  EXPECT_EQ(d1[2], 0.0f);
}

struct WkvCase {
  int64_t t, h, s;
};

class Wkv6ParityTest : public ::testing::TestWithParam<WkvCase> {};

// WKV6: the SIMD kernel fuses multiply-adds, the scalar one rounds every product, so the
// outputs differ by f32 rounding only: NMSE below 1e-10 (a wrong index gives ~1).
TEST_P(Wkv6ParityTest, SimdMatchesScalar) {
  const WkvCase& c = GetParam();
  const KernelTable* simd = KernelsFor(Isa::kAvx2);
  if (simd == nullptr || !CpuSupports(Isa::kAvx2)) GTEST_SKIP() << "no avx2";
  const KernelTable* scalar = KernelsFor(Isa::kScalar);
  const int64_t width = c.h * c.s, stride = width + 8;
  std::mt19937 rng(static_cast<uint32_t>(c.t * 100 + c.s));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> decay(0.2f, 0.999f);
  std::vector<float> r(c.t * stride), k(c.t * stride), v(c.t * stride), w(c.t * stride), u(width),
      state(width * c.s);
  for (auto* vec : {&r, &k, &v, &u, &state}) {
    for (float& e : *vec) e = normal(rng);
  }
  for (float& e : w) e = decay(rng);
  std::vector<float> state2 = state, y1(c.t * stride, 7.0f), y2(c.t * stride, 7.0f);
  scalar->wkv6(c.t, c.h, c.s, r.data(), k.data(), v.data(), w.data(), stride, u.data(),
               state.data(), y1.data());
  simd->wkv6(c.t, c.h, c.s, r.data(), k.data(), v.data(), w.data(), stride, u.data(), state2.data(),
             y2.data());
  std::vector<double> want(y1.begin(), y1.end());
  EXPECT_LE(Nmse(want, y2), 1e-10);
  for (int64_t t = 0; t < c.t; ++t) {
    for (int64_t i = width; i < stride; ++i) EXPECT_EQ(y2[t * stride + i], 7.0f) << "guard";
  }
  std::vector<double> want_state(state.begin(), state.end());
  EXPECT_LE(Nmse(want_state, state2), 1e-10);
}

INSTANTIATE_TEST_SUITE_P(Shapes, Wkv6ParityTest,
                         ::testing::Values(WkvCase{1, 2, 64}, WkvCase{5, 3, 64}, WkvCase{3, 2, 32},
                                           WkvCase{2, 4, 8}, WkvCase{4, 2, 24}, WkvCase{2, 1, 12}),
                         [](const ::testing::TestParamInfo<WkvCase>& info) {
                           return "t" + std::to_string(info.param.t) + "_h" +
                                  std::to_string(info.param.h) + "_s" +
                                  std::to_string(info.param.s);
                         });

}  // namespace
}  // namespace rwkv::engine::cpu

namespace rwkv::engine::cpu {
namespace {

class DequantRangeParityTest : public ::testing::TestWithParam<GgmlType> {};

// The GEMM's range dequantizer must reproduce the oracle exactly up to f32 rounding of
// scale·q + min (the SIMD form fuses the multiply-add): relative error per element ≤ 2^-23.
TEST_P(DequantRangeParityTest, MatchesOracleOnEveryChunk) {
  const KernelTable* simd = KernelsFor(Isa::kAvx2);
  if (simd == nullptr || !CpuSupports(Isa::kAvx2)) GTEST_SKIP() << "no avx2";
  const GgmlType type = GetParam();
  const int64_t k = 1536, chunk = 512;
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(k);
  for (float& v : w) v = normal(rng);
  std::vector<uint8_t> row(RowBytes(type, k));
  ASSERT_TRUE(::rwkv::engine::QuantizeRow(type, w.data(), row.data(), k).ok());
  std::vector<float> want(k), got(k + 8, 99.0f);
  ASSERT_TRUE(::rwkv::engine::DequantizeRow(type, row.data(), want.data(), k).ok());
  const DequantRangeFn fn = simd->For(type).dequant;
  ASSERT_NE(fn, nullptr);
  for (int64_t k0 = 0; k0 < k; k0 += chunk) fn(row.data(), k0, chunk, got.data() + k0);
  for (int64_t i = 0; i < k; ++i) {
    ASSERT_NEAR(got[i], want[i], 1e-6 * (1.0 + std::fabs(want[i]))) << i;
  }
  EXPECT_EQ(got[k], 99.0f) << "wrote past the range";
}

INSTANTIATE_TEST_SUITE_P(Types, DequantRangeParityTest,
                         ::testing::Values(GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16,
                                           GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_1,
                                           GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ4_K,
                                           GgmlType::kQ5_K, GgmlType::kQ6_K),
                         [](const ::testing::TestParamInfo<GgmlType>& info) {
                           return std::string(GgmlTypeName(info.param));
                         });

}  // namespace
}  // namespace rwkv::engine::cpu
