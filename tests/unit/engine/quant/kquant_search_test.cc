// The grouped symmetric K-quant search (eight groups per AVX2 lane set) against the scalar
// search, group by group: scales bit for bit and identical levels, on random data of several
// spreads and on the degenerate groups the scalar code special-cases.
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "quant/kquant_search.h"

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
  std::fill(group(0), group(1), 0.0f);                   // all zero
  std::fill(group(1), group(2), 1e-20f);                 // below the tiny-group threshold
  std::fill(group(2), group(3), -2.5f);                  // constant, negative
  group(3)[7] = 1e6f;                                    // one outlier
  group(4)[0] = -1e6f;                                   // negative outlier first
  for (int i = 0; i < 16; ++i) group(5)[i] = 1e-40f * i;  // subnormals
  group(6)[3] = std::numeric_limits<float>::min();
  for (int i = 0; i < 16; ++i) group(9)[i] = (i % 2 ? 1.0f : -1.0f) * 3e-15f;
  ExpectGroupsMatchScalar(x, 32);
}

}  // namespace
}  // namespace rwkv::engine::quant
