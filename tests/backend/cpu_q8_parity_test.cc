// Parity of the 8-bit products (Precision::kFast): every SIMD Q8 dot kernel against the
// scalar reference on the same quantized activations, over tiles of rows and columns and
// edge lengths (one block, groups of eight blocks with and without tails); the SIMD Q8
// quantizer against the scalar one; and the fast MatMul against the scalar table's.
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/q8_lanes.h"
#include "backend/cpu/thread_pool.h"
#include "gtest/gtest.h"
#include "rwkv/engine/fp16.h"
#include "rwkv/engine/ggml_types.h"
#include "rwkv/engine/quant.h"

namespace rwkv::engine::cpu {
namespace {

// The types with SIMD 8-bit products (and a lane GEMM unpacker on AVX-512).
const GgmlType kQ8Types[] = {GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0,
                             GgmlType::kQ5_1, GgmlType::kQ4_K, GgmlType::kQ5_K};

bool IsKQuant(GgmlType type) { return GetGgmlTypeInfo(type).block_size == 256; }

// A row length every type takes, near `legacy` for the legacy types.
int64_t RowLength(GgmlType type, int64_t legacy) {
  return IsKQuant(type) ? (legacy + 255) / 256 * 256 : legacy;
}

struct Q8Case {
  Isa isa;
  GgmlType type;
  int64_t k;
  int n_rows;
};

std::string Name(const ::testing::TestParamInfo<Q8Case>& info) {
  return std::string(IsaName(info.param.isa)) + "_" + std::string(GgmlTypeName(info.param.type)) +
         "_k" + std::to_string(info.param.k) + "_r" + std::to_string(info.param.n_rows);
}

std::vector<Q8Case> Cases() {
  std::vector<Q8Case> cases;
  for (Isa isa : {Isa::kAvx2, Isa::kAvxVnni, Isa::kAvx512}) {
    // Cases only for tables this build compiles; a CPU without the ISA skips them at run time.
    if (KernelsFor(isa) == nullptr) continue;
    for (GgmlType t : kQ8Types) {
      // 1 block; 3 blocks (tail only); 8 (one group); 9 and 14 (group + tail); 64 and 224
      // (the 1.6B model's 2048 and 7168). K-quant rows are whole 256-element super-blocks.
      for (int64_t k : {32, 96, 256, 288, 448, 2048, 7168}) {
        if (IsKQuant(t) && k % 256 != 0) continue;
        for (int rows : {1, 3, 4, 7, 16}) cases.push_back({isa, t, k, rows});
      }
    }
  }
  return cases;
}

// Random weights with every block's scale different, quantized by the reference quantizer.
std::vector<uint8_t> MakeRows(GgmlType type, int64_t k, int rows, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const uint64_t rb = RowBytes(type, k);
  std::vector<uint8_t> bytes(rb * rows + 64, 0xA5);  // tail guard bytes
  std::vector<float> w(k);
  for (int r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < k; ++i) w[i] = normal(rng) * (1.0f + static_cast<float>(i / 32 % 5));
    EXPECT_TRUE(::rwkv::engine::QuantizeRow(type, w.data(), bytes.data() + r * rb, k).ok());
  }
  return bytes;
}

// Activations with columns of different scale, 4σ outliers and one all-zero block.
std::vector<float> MakeColumn(int64_t k, int col, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(k);
  for (int64_t i = 0; i < k; ++i) {
    x[i] = normal(rng) * (1.0f + col) * (i % 97 == 5 ? 4.0f : 1.0f);
  }
  if (k >= 64) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);
  return x;
}

float F16At(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return Fp16ToFp32(v);
}

// How large the SIMD kernels' partial terms for element i of a row can be per unit of |x_i|,
// beyond the weight itself: Q8_0 weights offset by 128 and Q4_0/Q5_0 offsets kept as a min
// term (up to 256·|d|), Q4_K/Q5_K unsigned quants up to 31 times a 6-bit scale of d plus a
// 6-bit min of dmin.
double OffsetMagnitude(GgmlType type, const uint8_t* row, int64_t i) {
  if (IsKQuant(type)) {
    const uint8_t* sb = row + (i / 256) * RowBytes(type, 256);
    return 63.0 * (31.0 * std::fabs(F16At(sb)) + std::fabs(F16At(sb + 2)));
  }
  return 256.0 * std::fabs(F16At(row + (i / kQ8Block) * RowBytes(type, kQ8Block)));
}

class Q8DotParityTest : public ::testing::TestWithParam<Q8Case> {};

// Both compute every block's integer sum exactly; they differ only in f32 rounding of the
// scaled sums (the SIMD kernels offset Q8_0 weights by 128 and Q4_0/Q5_0 keep their offsets
// as a separate min term, so their partial sums carry up to ~256·|d_w| per element where the
// products carry |w_i|). The bound is 1e-5 of Σ_i (256·|d_w| + |w_i|)·|x_i|, which f32 rounding of
// up to 7168/32 scaled block sums stays well under; a wrong lane, block or scale gives errors
// of the size of the products themselves.
TEST_P(Q8DotParityTest, MatchesScalarReference) {
  const Q8Case& c = GetParam();
  const KernelTable* table = KernelsFor(c.isa);
  if (table == nullptr || !CpuSupports(c.isa)) {
    GTEST_SKIP() << IsaName(c.isa) << " kernels are not available on this machine/build";
  }
  const KernelTable* scalar = KernelsFor(Isa::kScalar);
  const DotQ8Fn simd_dot = table->For(c.type).dot_q8;
  const DotQ8Fn ref_dot = scalar->For(c.type).dot_q8;
  ASSERT_NE(simd_dot, nullptr);
  ASSERT_NE(ref_dot, nullptr);
  std::mt19937 rng(static_cast<uint32_t>(c.k * 7 + c.n_rows * 131 + static_cast<int>(c.type)));
  const std::vector<uint8_t> rows = MakeRows(c.type, c.k, c.n_rows, rng);
  const uint64_t rb = RowBytes(c.type, c.k);
  std::vector<float> deq(c.k * c.n_rows);
  for (int r = 0; r < c.n_rows; ++r) {
    ASSERT_TRUE(
        ::rwkv::engine::DequantizeRow(c.type, rows.data() + r * rb, deq.data() + r * c.k, c.k)
            .ok());
  }
  const int64_t nb = c.k / kQ8Block;
  for (int n_cols = 1; n_cols <= kMaxQ8Cols; ++n_cols) {
    SCOPED_TRACE("columns " + std::to_string(n_cols));
    std::vector<std::vector<int8_t>> q(n_cols, std::vector<int8_t>(c.k));
    std::vector<std::vector<float>> d(n_cols, std::vector<float>(nb)), s(n_cols, d[0]);
    std::vector<std::vector<float>> xf(n_cols);
    Q8View views[kMaxQ8Cols];
    for (int col = 0; col < n_cols; ++col) {
      xf[col] = MakeColumn(c.k, col, rng);
      table->quantize_q8(xf[col].data(), c.k, q[col].data(), d[col].data(), s[col].data());
      views[col] = {q[col].data(), d[col].data(), s[col].data()};
    }
    std::vector<float> want(c.n_rows * n_cols), got(c.n_rows * n_cols + 1, -1.0f);
    got.back() = 12345.0f;  // guard
    ref_dot(rows.data(), rb, c.n_rows, c.k, views, n_cols, want.data());
    simd_dot(rows.data(), rb, c.n_rows, c.k, views, n_cols, got.data());
    EXPECT_EQ(got.back(), 12345.0f) << "wrote past the requested outputs";
    for (int r = 0; r < c.n_rows; ++r) {
      for (int col = 0; col < n_cols; ++col) {
        double bound = 0;
        for (int64_t i = 0; i < c.k; ++i) {
          const double xi = std::fabs(static_cast<double>(q[col][i]) * d[col][i / kQ8Block]);
          bound +=
              (OffsetMagnitude(c.type, rows.data() + r * rb, i) + std::fabs(deq[r * c.k + i])) * xi;
        }
        const int o = r * n_cols + col;
        ASSERT_NEAR(got[o], want[o], 1e-5 * bound + 1e-6) << "row " << r << " column " << col;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, Q8DotParityTest, ::testing::ValuesIn(Cases()), Name);

// The lane GEMM (unpacked weight rows × interleaved columns) against the scalar reference dot:
// every row count of one call, partial column groups (the padding lanes must come out 0),
// block counts with and without the 1.6B model's widths, and Q8_0 bytes of -128 (which no
// quantizer writes but a file may hold).
class Q8LaneGemmParityTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(Q8LaneGemmParityTest, MatchesScalarReference) {
  const GgmlType type = GetParam();
  const KernelTable* table = KernelsFor(Isa::kAvx512);
  if (table == nullptr || !CpuSupports(Isa::kAvx512)) {
    GTEST_SKIP() << "avx512 kernels are not available on this machine/build";
  }
  ASSERT_NE(table->gemm_q8_lanes, nullptr);
  const TypeKernels& tk = table->For(type);
  ASSERT_NE(tk.unpack_q8, nullptr);
  const DotQ8Fn ref_dot = KernelsFor(Isa::kScalar)->For(type).dot_q8;
  for (int64_t legacy_k : {32, 288, 2048}) {
    const int64_t k = RowLength(type, legacy_k);
    std::mt19937 rng(static_cast<uint32_t>(k + 17 * static_cast<int>(type)));
    const int n_rows = kQ8LaneRows;
    std::vector<uint8_t> rows = MakeRows(type, k, n_rows, rng);
    const uint64_t rb = RowBytes(type, k);
    if (type == GgmlType::kQ8_0) {
      for (int64_t i = 0; i < k; i += 5) rows[rb + (i / 32) * 34 + 2 + i % 32] = 0x80;
    }
    const int64_t nb = k / kQ8Block;
    std::vector<uint8_t> u(n_rows * k);
    std::vector<float> scale(n_rows * nb), min(n_rows * nb);
    for (int r = 0; r < n_rows; ++r) {
      tk.unpack_q8(rows.data() + r * rb, k, u.data() + r * k, scale.data() + r * nb,
                   min.data() + r * nb);
    }
    for (int n_cols : {1, 7, kQ8Lanes}) {
      std::vector<std::vector<int8_t>> q(n_cols, std::vector<int8_t>(k));
      std::vector<std::vector<float>> d(n_cols, std::vector<float>(nb)), s(n_cols, d[0]);
      std::vector<Q8View> views(n_cols);
      for (int col = 0; col < n_cols; ++col) {
        const std::vector<float> xf = MakeColumn(k, col % 4, rng);
        table->quantize_q8(xf.data(), k, q[col].data(), d[col].data(), s[col].data());
        views[col] = {q[col].data(), d[col].data(), s[col].data()};
      }
      std::vector<int8_t> lq(Q8LaneQBytes(k));
      std::vector<int32_t> init(Q8LaneBlockValues(k));
      std::vector<float> ld(init.size()), ls(init.size());
      InterleaveQ8(views.data(), n_cols, k, tk.q8_offset, lq.data(), init.data(), ld.data(),
                   ls.data());
      const Q8LaneGroup group{lq.data(), init.data(), ld.data(), ls.data()};
      for (int call_rows = 1; call_rows <= n_rows; ++call_rows) {
        SCOPED_TRACE("k " + std::to_string(k) + " columns " + std::to_string(n_cols) + " rows " +
                     std::to_string(call_rows));
        std::vector<float> got(kQ8LaneRows * kQ8Lanes + 1, -1.0f);
        got.back() = 12345.0f;  // guard
        table->gemm_q8_lanes(u.data(), scale.data(), tk.q8_offset != 0 ? nullptr : min.data(),
                             call_rows, k, group, got.data(), rows.data(),
                             static_cast<int64_t>(rb));
        EXPECT_EQ(got.back(), 12345.0f) << "wrote past the requested outputs";
        std::vector<float> want(call_rows * n_cols);
        ref_dot(rows.data(), rb, call_rows, k, views.data(), n_cols, want.data());
        for (int r = 0; r < call_rows; ++r) {
          for (int col = 0; col < kQ8Lanes; ++col) {
            const float g = got[r * kQ8Lanes + col];
            if (col >= n_cols) {
              ASSERT_EQ(g, 0.0f) << "padding lane " << col << " row " << r;
              continue;
            }
            double magnitude = 0;
            for (int64_t i = 0; i < k; ++i) {
              const double xi = std::fabs(static_cast<double>(q[col][i]) * d[col][i / kQ8Block]);
              magnitude += (std::fabs(static_cast<double>(scale[r * nb + i / kQ8Block])) * 256.0 +
                            std::fabs(static_cast<double>(min[r * nb + i / kQ8Block]))) *
                           xi;
            }
            ASSERT_NEAR(g, want[r * n_cols + col], 1e-5 * magnitude + 1e-6)
                << "row " << r << " column " << col;
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, Q8LaneGemmParityTest, ::testing::ValuesIn(kQ8Types),
                         [](const ::testing::TestParamInfo<GgmlType>& info) {
                           return std::string(GgmlTypeName(info.param));
                         });

// The reference itself against the dequantized product in double: the integer sums are
// exact, so only the activation rounding (at most half a step per element) separates them.
TEST(Q8ReferenceTest, EqualsDequantizedProductOfQuantizedActivations) {
  const KernelTable* scalar = KernelsFor(Isa::kScalar);
  std::mt19937 rng(11);
  // Q6_K has a scalar 8-bit product only (see kernels.cc).
  std::vector<GgmlType> types(std::begin(kQ8Types), std::end(kQ8Types));
  types.push_back(GgmlType::kQ6_K);
  for (GgmlType t : types) {
    SCOPED_TRACE(std::string(GgmlTypeName(t)));
    const int64_t k = RowLength(t, 448);
    const std::vector<uint8_t> row = MakeRows(t, k, 1, rng);
    std::vector<float> deq(k);
    ASSERT_TRUE(::rwkv::engine::DequantizeRow(t, row.data(), deq.data(), k).ok());
    const std::vector<float> x = MakeColumn(k, 0, rng);
    std::vector<int8_t> q(k);
    std::vector<float> d(k / 32), s(k / 32);
    QuantizeQ8Scalar(x.data(), k, q.data(), d.data(), s.data());
    double want = 0, mag = 0;
    for (int64_t i = 0; i < k; ++i) {
      want += static_cast<double>(deq[i]) * q[i] * d[i / 32];
      mag += std::fabs(static_cast<double>(deq[i]) * x[i]);
    }
    const Q8View view{q.data(), d.data(), s.data()};
    float got = 0;
    scalar->For(t).dot_q8(row.data(), RowBytes(t, k), 1, k, &view, 1, &got);
    EXPECT_NEAR(got, want, 1e-6 * mag);
  }
}

// The Q8 quantizers: the SIMD one rounds half to even, the scalar one half away from zero,
// so values may differ by one step on exact ties and nowhere else.
TEST(QuantizeQ8ParityTest, SimdMatchesScalar) {
  const KernelTable* simd = KernelsFor(Isa::kAvx2);
  if (simd == nullptr || !CpuSupports(Isa::kAvx2)) GTEST_SKIP() << "no avx2";
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  const int64_t k = 4096;
  std::vector<float> x(k);
  for (float& v : x) v = normal(rng);
  for (int i = 0; i < 32; ++i) x[64 + i] = 0.0f;                         // an all-zero block
  for (int i = 0; i < 32; ++i) x[128 + i] = static_cast<float>(i - 16);  // exact values
  std::vector<int8_t> q1(k), q2(k);
  std::vector<float> d1(k / 32), d2(k / 32), s1(k / 32), s2(k / 32);
  QuantizeQ8Scalar(x.data(), k, q1.data(), d1.data(), s1.data());
  simd->quantize_q8(x.data(), k, q2.data(), d2.data(), s2.data());
  for (int64_t i = 0; i < k; ++i) ASSERT_LE(std::abs(q1[i] - q2[i]), 1) << i;
  for (int64_t b = 0; b < k / 32; ++b) {
    ASSERT_EQ(d1[b], d2[b]) << b;
    ASSERT_NEAR(s1[b], s2[b], 32 * d1[b]) << b;
  }
  EXPECT_EQ(d1[2], 0.0f);
  // The element with the block's largest magnitude is ±127.
  EXPECT_EQ(q1[128], -127);
  EXPECT_EQ(q2[128], -127);
}

// A SIMD table never runs a scalar 8-bit product (a type without a SIMD one takes the table's
// exact kernel instead), and every type of kQ8Types has a SIMD one.
TEST(Q8TableTest, SimdTablesHoldNoScalarProducts) {
  const KernelTable* scalar = KernelsFor(Isa::kScalar);
  for (Isa isa : {Isa::kAvx2, Isa::kAvxVnni, Isa::kAvx512}) {
    const KernelTable* table = KernelsFor(isa);
    if (table == nullptr) continue;
    for (uint32_t t = 0; t < kGgmlTypeCount; ++t) {
      SCOPED_TRACE(std::string(IsaName(isa)) + " type " + std::to_string(t));
      if (table->types[t].dot_q8 == nullptr) continue;
      EXPECT_NE(table->types[t].dot_q8, scalar->types[t].dot_q8);
    }
    for (GgmlType t : kQ8Types) EXPECT_NE(table->For(t).dot_q8, nullptr) << GgmlTypeName(t);
    EXPECT_EQ(table->For(GgmlType::kQ6_K).dot_q8, nullptr);
  }
}

// MatMul under Precision::kFast on every SIMD table against the scalar table's fast MatMul:
// many row blocks with a ragged last one, column counts around the kernels' tiles, an
// epilogue and accumulation.
TEST(Q8MatMulParityTest, SimdMatchesScalarTable) {
  const int64_t rows = 37;
  ThreadPool pool(2);
  for (Isa isa : {Isa::kAvx2, Isa::kAvxVnni, Isa::kAvx512}) {
    const KernelTable* table = KernelsFor(isa);
    if (table == nullptr || !CpuSupports(isa)) continue;
    for (GgmlType t : kQ8Types) {
      const int64_t k = RowLength(t, 288);
      std::mt19937 rng(3);
      const std::vector<uint8_t> w = MakeRows(t, k, rows, rng);
      const backend::WeightView view{t, k, rows, RowBytes(t, k), w.data()};
      // Below and above the lane GEMM's q8_lanes_min_cols, with ragged column groups.
      for (int64_t n : {1, 5, 8, 9, 12, 16, 17, 40}) {
        SCOPED_TRACE(std::string(IsaName(isa)) + " " + std::string(GgmlTypeName(t)) + " n " +
                     std::to_string(n));
        std::vector<float> x;
        for (int64_t c = 0; c < n; ++c) {
          const std::vector<float> col = MakeColumn(k, static_cast<int>(c % 3), rng);
          x.insert(x.end(), col.begin(), col.end());
        }
        std::vector<float> y1(n * rows, 0.5f), y2(n * rows, 0.5f);
        MatMulScratch s1, s2;
        MatMul(pool, *KernelsFor(Isa::kScalar), view, x.data(), k, n, y1.data(), rows,
               backend::Epilogue::kTanh, true, s1, Precision::kFast);
        MatMul(pool, *table, view, x.data(), k, n, y2.data(), rows, backend::Epilogue::kTanh, true,
               s2, Precision::kFast);
        // Activations quantized by different quantizers may differ by one step on ties; the
        // tanh epilogue bounds every output, so 1e-3 absolute is a tight check.
        for (size_t i = 0; i < y1.size(); ++i) ASSERT_NEAR(y1[i], y2[i], 1e-3) << i;
      }
    }
  }
}

}  // namespace
}  // namespace rwkv::engine::cpu
