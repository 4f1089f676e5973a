// The threaded matrix-product driver: row blocks and column tiles with remainders, every
// epilogue, accumulation, strided operands, and guard regions around the output, for each
// kernel table against the scalar table.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/thread_pool.h"
#include "gtest/gtest.h"
#include "rwkv/engine/quant.h"

namespace rwkv::engine::cpu {
namespace {

using backend::Epilogue;

struct Case {
  GgmlType type;
  int64_t rows, k, n;
  Epilogue epilogue;
  bool accumulate;
};

class MatMulParityTest : public ::testing::TestWithParam<Case> {};

// Runs case c on the SIMD table `simd` and on the scalar table.
void CheckAgainstScalar(const Case& c, const KernelTable* simd) {
  std::mt19937 rng(static_cast<uint32_t>(c.rows * 7 + c.k + c.n));
  std::normal_distribution<float> normal(0.0f, 0.3f);
  std::vector<float> wf(c.rows * c.k);
  for (float& v : wf) v = normal(rng);
  const uint64_t row_bytes = RowBytes(c.type, c.k);
  std::vector<uint8_t> wq(row_bytes * c.rows);
  for (int64_t r = 0; r < c.rows; ++r) {
    ASSERT_TRUE(
        ::rwkv::engine::QuantizeRow(c.type, wf.data() + r * c.k, wq.data() + r * row_bytes, c.k)
            .ok());
  }
  backend::WeightView w{c.type, c.k, c.rows, row_bytes, wq.data()};
  const int64_t x_stride = c.k + 3, y_stride = c.rows + 5, guard = 16;
  std::vector<float> x(c.n * x_stride);
  for (float& v : x) v = normal(rng);
  std::vector<float> y_init(guard * 2 + c.n * y_stride);
  for (float& v : y_init) v = normal(rng);
  std::vector<float> y1 = y_init, y2 = y_init;
  ThreadPool pool(3);
  MatMulScratch s1, s2;
  MatMul(pool, *KernelsFor(Isa::kScalar), w, x.data(), x_stride, c.n, y1.data() + guard, y_stride,
         c.epilogue, c.accumulate, s1);
  MatMul(pool, *simd, w, x.data(), x_stride, c.n, y2.data() + guard, y_stride, c.epilogue,
         c.accumulate, s2);
  // Tolerance: Q16 activations keep products to ~1e-5 relative; outputs are O(1), and
  // the epilogues are 1-Lipschitz except relu², which scales an error δ in v by 2|v|: the
  // error is measured relative to max(1, |y|) (a wrong kernel is off by O(1) relatively).
  double max_err = 0;
  for (size_t i = 0; i < y1.size(); ++i) {
    const int64_t off = static_cast<int64_t>(i) - guard;
    const bool inside = off >= 0 && off < c.n * y_stride && off % y_stride < c.rows;
    if (!inside) {
      ASSERT_EQ(y2[i], y_init[i]) << "wrote outside the output at " << off;
      ASSERT_EQ(y1[i], y_init[i]) << "scalar wrote outside the output at " << off;
    } else {
      const double scale = std::max(1.0, std::fabs(static_cast<double>(y1[i])));
      max_err = std::max(max_err, std::fabs(static_cast<double>(y1[i] - y2[i])) / scale);
    }
  }
  EXPECT_LE(max_err, 1e-3);
}

TEST_P(MatMulParityTest, Avx2DriverMatchesScalar) {
  const KernelTable* simd = KernelsFor(Isa::kAvx2);
  if (simd == nullptr || !CpuSupports(Isa::kAvx2)) GTEST_SKIP() << "no avx2";
  CheckAgainstScalar(GetParam(), simd);
}

TEST_P(MatMulParityTest, Avx512DriverMatchesScalar) {
  const KernelTable* simd = KernelsFor(Isa::kAvx512);
  if (simd == nullptr || !CpuSupports(Isa::kAvx512)) {
    GTEST_SKIP() << "avx512 kernels are not available on this machine/build";
  }
  CheckAgainstScalar(GetParam(), simd);
}

INSTANTIATE_TEST_SUITE_P(
    Driver, MatMulParityTest,
    ::testing::Values(Case{GgmlType::kF32, 37, 64, 1, Epilogue::kNone, false},
                      Case{GgmlType::kF16, 37, 100, 9, Epilogue::kTanh, false},
                      Case{GgmlType::kBF16, 16, 64, 5, Epilogue::kSigmoid, true},
                      Case{GgmlType::kQ8_0, 53, 256, 7, Epilogue::kSilu, false},
                      Case{GgmlType::kQ5_1, 33, 128, 4, Epilogue::kReluSquare, false},
                      Case{GgmlType::kQ4_0, 17, 96, 2, Epilogue::kNone, true},
                      Case{GgmlType::kQ4_K, 40, 512, 6, Epilogue::kNone, false},
                      Case{GgmlType::kQ6_K, 19, 256, 13, Epilogue::kTanh, true},
                      Case{GgmlType::kQ8_0, 29, 512, 17, Epilogue::kNone, true},
                      Case{GgmlType::kF16, 31, 1000, 25, Epilogue::kSilu, false},
                      Case{GgmlType::kQ8_0, 26, 1024, 40, Epilogue::kReluSquare, true},
                      Case{GgmlType::kQ5_0, 23, 512, 18, Epilogue::kNone, false},
                      Case{GgmlType::kQ5_K, 21, 256, 3, Epilogue::kNone, false},
                      // GEMM edges: k not a multiple of 8, a chunk shorter than 256, rows not
                      // a multiple of the 16-row panel, column counts at the crossovers.
                      Case{GgmlType::kF32, 21, 37, 20, Epilogue::kSigmoid, false},
                      Case{GgmlType::kQ8_0, 33, 96, 100, Epilogue::kNone, true},
                      Case{GgmlType::kQ4_1, 17, 288, 24, Epilogue::kTanh, false},
                      Case{GgmlType::kQ4_K, 40, 512, 8, Epilogue::kNone, false},
                      // Last GEMM column tile of 5 and of 3 columns.
                      Case{GgmlType::kQ4_0, 35, 256, 29, Epilogue::kSilu, true},
                      Case{GgmlType::kF16, 19, 64, 21, Epilogue::kNone, false}),
    [](const ::testing::TestParamInfo<Case>& info) {
      return std::string(GgmlTypeName(info.param.type)) + "_r" + std::to_string(info.param.rows) +
             "_n" + std::to_string(info.param.n) + "_e" +
             std::to_string(static_cast<int>(info.param.epilogue)) +
             (info.param.accumulate ? "_acc" : "");
    });

}  // namespace
}  // namespace rwkv::engine::cpu
