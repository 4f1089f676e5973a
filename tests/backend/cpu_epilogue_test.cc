// The SIMD epilogues against the scalar ApplyEpilogue (libm): every function over inputs from
// -100 to 100 (both saturated ends, the region near 0 where tanh and SiLU are small, ordinary
// values), run lengths with and without a tail, and accumulation into the destination.
#include <cmath>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/cpu/matmul.h"
#include "gtest/gtest.h"

namespace rwkv::engine::cpu {
namespace {

using backend::Epilogue;

std::vector<float> Inputs() {
  std::vector<float> x = {0.0f, -0.0f, 1e-8f, -1e-8f, 1e-4f, -3e-3f, 87.0f, -87.0f, 89.0f,
                          -89.0f, 100.0f, -100.0f, 20.0f, -20.0f, 9.0f, -9.0f};
  for (int i = -4000; i <= 4000; ++i) x.push_back(static_cast<float>(i) * 0.0031f);
  for (int i = -200; i <= 200; ++i) x.push_back(static_cast<float>(i) * 0.37f);
  return x;
}

TEST(CpuEpilogueTest, SimdMatchesScalar) {
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    const KernelTable* table = KernelsFor(isa);
    if (table == nullptr || !CpuSupports(isa)) continue;
    ASSERT_NE(table->epilogue_run, nullptr) << IsaName(isa);
    for (Epilogue e : {Epilogue::kNone, Epilogue::kTanh, Epilogue::kSigmoid, Epilogue::kSilu,
                       Epilogue::kReluSquare}) {
      for (bool accumulate : {false, true}) {
        const std::vector<float> x = Inputs();
        for (int64_t count : {int64_t{1}, int64_t{7}, int64_t{8}, int64_t{13},
                              static_cast<int64_t>(x.size())}) {
          SCOPED_TRACE(std::string(IsaName(isa)) + " epilogue " +
                       std::to_string(static_cast<int>(e)) + " count " + std::to_string(count) +
                       (accumulate ? " accumulate" : ""));
          std::vector<float> got(count + 1, 0.25f);
          got.back() = 12345.0f;  // guard
          table->epilogue_run(e, accumulate, x.data(), count, got.data());
          EXPECT_EQ(got.back(), 12345.0f) << "wrote past the run";
          for (int64_t i = 0; i < count; ++i) {
            const float want = ApplyEpilogue(e, x[i]) + (accumulate ? 0.25f : 0.0f);
            ASSERT_NEAR(got[i], want, 4e-7f * std::fabs(want) + 2e-7f) << "x = " << x[i];
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace rwkv::engine::cpu
