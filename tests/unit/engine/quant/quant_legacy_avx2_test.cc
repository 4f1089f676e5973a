// The AVX2 legacy quantizers against the portable ones: the same bytes for random rows of
// several spreads and for the blocks whose statistics or rounding are delicate (zeros of
// both signs, ties at .5, NaN, infinities, the largest floats, subnormals).
#include "quant/quant_legacy_avx2.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "quant/quant_legacy.h"
#include "rwkv/engine/ggml_types.h"
#include "rwkv/engine/quant.h"

namespace rwkv::engine::quant {
namespace {

using RowFn = void (*)(const float*, void*, int64_t);

struct Pair {
  const char* name;
  GgmlType type;
  RowFn simd;
  RowFn scalar;
};

template <void (*F)(const float*, void*, int64_t, FmaMode), FmaMode kMode>
void WithMode(const float* x, void* y, int64_t n) {
  F(x, y, n, kMode);
}

constexpr FmaMode kFused = FmaMode::kFused;
constexpr FmaMode kUnfused = FmaMode::kUnfused;

// Both rounding modes of the four legacy types; Q8_0 has no multiply-add.
const Pair kPairs[] = {
    {"q4_0_unfused", GgmlType::kQ4_0, &WithMode<QuantizeRowQ4_0Avx2, kUnfused>,
     &WithMode<QuantizeRowQ4_0Scalar, kUnfused>},
    {"q4_1_unfused", GgmlType::kQ4_1, &WithMode<QuantizeRowQ4_1Avx2, kUnfused>,
     &WithMode<QuantizeRowQ4_1Scalar, kUnfused>},
    {"q5_0_unfused", GgmlType::kQ5_0, &WithMode<QuantizeRowQ5_0Avx2, kUnfused>,
     &WithMode<QuantizeRowQ5_0Scalar, kUnfused>},
    {"q5_1_unfused", GgmlType::kQ5_1, &WithMode<QuantizeRowQ5_1Avx2, kUnfused>,
     &WithMode<QuantizeRowQ5_1Scalar, kUnfused>},
    {"q4_0_fused", GgmlType::kQ4_0, &WithMode<QuantizeRowQ4_0Avx2, kFused>,
     &WithMode<QuantizeRowQ4_0Scalar, kFused>},
    {"q4_1_fused", GgmlType::kQ4_1, &WithMode<QuantizeRowQ4_1Avx2, kFused>,
     &WithMode<QuantizeRowQ4_1Scalar, kFused>},
    {"q5_0_fused", GgmlType::kQ5_0, &WithMode<QuantizeRowQ5_0Avx2, kFused>,
     &WithMode<QuantizeRowQ5_0Scalar, kFused>},
    {"q5_1_fused", GgmlType::kQ5_1, &WithMode<QuantizeRowQ5_1Avx2, kFused>,
     &WithMode<QuantizeRowQ5_1Scalar, kFused>},
    {"q8_0", GgmlType::kQ8_0, &QuantizeRowQ8_0Avx2, &QuantizeRowQ8_0Scalar},
};

std::vector<float> DelicateBlocks() {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<std::vector<float>> blocks;
  blocks.push_back(std::vector<float>(32, 0.0f));
  blocks.push_back(std::vector<float>(32, -0.0f));
  std::vector<float> b(32);
  for (int i = 0; i < 32; ++i) b[i] = (i % 3 == 0) ? -0.0f : (i % 3 == 1 ? 0.0f : 0.25f * i);
  blocks.push_back(b);
  for (int i = 0; i < 32; ++i) b[i] = (i % 2 ? -0.0f : 0.0f) - 0.125f * (i % 5);
  blocks.push_back(b);
  for (int i = 0; i < 32; ++i) b[i] = (i - 16) * 0.5f;  // exact halves everywhere
  blocks.push_back(b);
  for (int i = 0; i < 32; ++i) b[i] = (i % 2 ? 127.0f : -127.0f) * (i / 32.0f);
  blocks.push_back(b);
  for (int i = 0; i < 32; ++i) b[i] = i == 5 ? -3.0f : (i == 20 ? 3.0f : 1.0f);  // tie in |x|
  blocks.push_back(b);
  for (int i = 0; i < 32; ++i) b[i] = i == 7 ? nan : 0.1f * i;
  blocks.push_back(b);
  for (int i = 0; i < 32; ++i) b[i] = i == 9 ? inf : -0.1f * i;
  blocks.push_back(b);
  for (int i = 0; i < 32; ++i) b[i] = i == 2 ? -inf : 0.3f;
  blocks.push_back(b);
  for (int i = 0; i < 32; ++i) b[i] = (i % 2 ? 1.0f : -1.0f) * std::numeric_limits<float>::max();
  blocks.push_back(b);
  for (int i = 0; i < 32; ++i) b[i] = 1e-42f * (i - 10);  // subnormals
  blocks.push_back(b);
  std::vector<float> all;
  for (const auto& block : blocks) all.insert(all.end(), block.begin(), block.end());
  return all;
}

class LegacyAvx2Test : public ::testing::TestWithParam<Pair> {};

void ExpectSameBytes(const Pair& p, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  const uint64_t bytes = RowBytes(p.type, n);
  std::vector<uint8_t> a(bytes, 0xAB), b(bytes, 0xAB);
  p.simd(x.data(), a.data(), n);
  p.scalar(x.data(), b.data(), n);
  for (uint64_t i = 0; i < bytes; ++i) {
    ASSERT_EQ(a[i], b[i]) << p.name << ": byte " << i << " of block " << i / (bytes / (n / 32));
  }
}

TEST_P(LegacyAvx2Test, SameBytesAsScalarOnRandomRows) {
  if (!HaveAvx2Quantizers()) GTEST_SKIP() << "CPU without AVX2+FMA";
  std::mt19937 rng(3);
  for (float sigma : {1e-4f, 0.02f, 1.0f, 1e4f}) {
    std::normal_distribution<float> normal(0.0f, sigma);
    std::vector<float> x(32 * 512);
    for (float& v : x) v = normal(rng);
    ExpectSameBytes(GetParam(), x);
  }
  std::uniform_int_distribution<int> small(-40, 40);  // many exact ties after scaling
  std::vector<float> x(32 * 256);
  for (float& v : x) v = 0.25f * static_cast<float>(small(rng));
  ExpectSameBytes(GetParam(), x);
}

TEST_P(LegacyAvx2Test, SameBytesAsScalarOnDelicateBlocks) {
  if (!HaveAvx2Quantizers()) GTEST_SKIP() << "CPU without AVX2+FMA";
  ExpectSameBytes(GetParam(), DelicateBlocks());
}

INSTANTIATE_TEST_SUITE_P(Types, LegacyAvx2Test, ::testing::ValuesIn(kPairs),
                         [](const ::testing::TestParamInfo<Pair>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace rwkv::engine::quant
