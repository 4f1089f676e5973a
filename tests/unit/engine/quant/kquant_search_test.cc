// The grouped symmetric K-quant search (eight groups per AVX2 lane set) against the scalar
// search, group by group: scales bit for bit and identical levels, on random data of several
// spreads and on the degenerate groups the scalar code special-cases.
#include "quant/kquant_search.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace rwkv::engine::quant {
namespace {

void ExpectGroupsMatchScalar(const std::vector<float>& x, int nmax) {
  const int n_groups = static_cast<int>(x.size() / 16);
  std::vector<int8_t> L(x.size(), -1);
  std::vector<float> scales(n_groups, -1.0f);
  MakeQxQuantsGroups16(n_groups, nmax, x.data(), L.data(), scales.data());
  for (int g = 0; g < n_groups; ++g) {
    int8_t expected_l[16];
    const float expected = MakeQxQuants(16, nmax, x.data() + 16 * g, expected_l);
    uint32_t a, b;
    std::memcpy(&a, &expected, 4);
    std::memcpy(&b, &scales[g], 4);
    EXPECT_EQ(a, b) << "group " << g << ": scale " << scales[g] << " vs " << expected;
    for (int i = 0; i < 16; ++i) {
      EXPECT_EQ(L[16 * g + i], expected_l[i]) << "group " << g << " element " << i;
    }
  }
}

TEST(KQuantSearchTest, GroupedSearchMatchesScalarOnRandomData) {
  std::mt19937 rng(11);
  for (float sigma : {1e-3f, 0.05f, 1.0f, 300.0f}) {
    std::normal_distribution<float> normal(0.0f, sigma);
    std::vector<float> x(16 * 64);
    for (float& v : x) v = normal(rng);
    ExpectGroupsMatchScalar(x, 32);
    ExpectGroupsMatchScalar(x, 4);
  }
}

TEST(KQuantSearchTest, GroupedSearchMatchesScalarOnDegenerateGroups) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> x(16 * 21);  // not a multiple of eight groups: the tail runs scalar
  for (float& v : x) v = uniform(rng);
  auto group = [&](int g) { return x.data() + 16 * g; };
  std::fill(group(0), group(1), 0.0f);                    // all zero
  std::fill(group(1), group(2), 1e-20f);                  // below the tiny-group threshold
  std::fill(group(2), group(3), -2.5f);                   // constant, negative
  group(3)[7] = 1e6f;                                     // one outlier
  group(4)[0] = -1e6f;                                    // negative outlier first
  for (int i = 0; i < 16; ++i) group(5)[i] = 1e-40f * i;  // subnormals
  group(6)[3] = std::numeric_limits<float>::min();
  for (int i = 0; i < 16; ++i) group(9)[i] = (i % 2 ? 1.0f : -1.0f) * 3e-15f;
  ExpectGroupsMatchScalar(x, 32);
}

}  // namespace
}  // namespace rwkv::engine::quant

namespace rwkv::engine::quant {
namespace {

void ExpectQkx2GroupsMatchScalar(const std::vector<float>& x, int nmax, float rmin, int nstep) {
  ASSERT_EQ(x.size(), 256u);
  std::vector<float> w(256);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.1f + std::fabs(x[i]) * (1.0f + (i % 7) * 0.01f);
  uint8_t L[256];
  float mins[8], scales[8];
  MakeQkx2QuantsGroups32x8(nmax, x.data(), w.data(), L, mins, scales, rmin, 0.1f, nstep);
  for (int g = 0; g < 8; ++g) {
    uint8_t expected_l[32], laux[32];
    float expected_min;
    const float expected = MakeQkx2Quants(32, nmax, x.data() + 32 * g, w.data() + 32 * g,
                                          expected_l, &expected_min, laux, rmin, 0.1f, nstep);
    uint32_t a, b, c, d;
    std::memcpy(&a, &expected, 4);
    std::memcpy(&b, &scales[g], 4);
    std::memcpy(&c, &expected_min, 4);
    std::memcpy(&d, &mins[g], 4);
    EXPECT_EQ(a, b) << "group " << g << ": scale " << scales[g] << " vs " << expected;
    EXPECT_EQ(c, d) << "group " << g << ": min " << mins[g] << " vs " << expected_min;
    for (int i = 0; i < 32; ++i) EXPECT_EQ(L[32 * g + i], expected_l[i]) << "group " << g;
  }
}

TEST(KQuantSearchTest, AsymmetricGroupedSearchMatchesScalar) {
  std::mt19937 rng(17);
  for (float sigma : {1e-3f, 0.05f, 1.0f, 300.0f}) {
    std::normal_distribution<float> normal(0.0f, sigma);
    for (int rep = 0; rep < 8; ++rep) {
      std::vector<float> x(256);
      for (float& v : x) v = normal(rng);
      ExpectQkx2GroupsMatchScalar(x, 15, -1.0f, 20);  // Q4_K
      ExpectQkx2GroupsMatchScalar(x, 31, -0.5f, 15);  // Q5_K
      ExpectQkx2GroupsMatchScalar(x, 15, -1.0f, 0);   // no search steps
    }
  }
}

TEST(KQuantSearchTest, AsymmetricGroupedSearchMatchesScalarOnDegenerateGroups) {
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) x[i] = 0.01f * static_cast<float>(i % 29) - 0.1f;
  std::fill(x.begin(), x.begin() + 32, 0.0f);                  // flat at zero
  std::fill(x.begin() + 32, x.begin() + 64, 2.0f);             // flat, positive (min clamps to 0)
  std::fill(x.begin() + 64, x.begin() + 96, -1.5f);            // flat, negative
  for (int i = 96; i < 128; ++i) x[i] = i % 2 ? 1.0f : -0.0f;  // two values, a signed zero
  for (int i = 128; i < 160; ++i) x[i] = 1e-40f * (i - 140);   // subnormals
  x[170] = 1e6f;                                               // outlier
  x[200] = std::numeric_limits<float>::quiet_NaN();
  ExpectQkx2GroupsMatchScalar(x, 15, -1.0f, 20);
  ExpectQkx2GroupsMatchScalar(x, 31, -0.5f, 15);
}

}  // namespace
}  // namespace rwkv::engine::quant
