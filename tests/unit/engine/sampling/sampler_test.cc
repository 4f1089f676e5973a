#include "rwkv/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace rwkv::engine {
namespace {

SamplerParams Plain(float temperature) {
  SamplerParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  return p;
}

std::vector<float> RandomLogits(size_t n, uint32_t seed, float scale = 2.3f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

int32_t Argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

std::vector<double> Frequencies(Sampler& s, const std::vector<float>& logits, int draws) {
  std::vector<double> freq(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) {
    std::vector<float> row = logits;
    ++freq[s.Sample(row)];
  }
  for (double& f : freq) f /= draws;
  return freq;
}

TEST(SamplerTest, GreedyPicksArgmaxWithTiesToLowestId) {
  Sampler s(Plain(0.0f));
  std::vector<float> logits = {0.1f, 3.0f, -2.0f, 3.0f};
  EXPECT_EQ(s.Sample(logits), 1);
  Sampler negative(Plain(-1.0f));
  std::vector<float> again = {0.1f, 3.0f, -2.0f, 3.5f};
  EXPECT_EQ(negative.Sample(again), 3);
}

TEST(SamplerTest, TopKOneEqualsGreedy) {
  for (uint32_t seed = 0; seed < 20; ++seed) {
    SamplerParams p = Plain(1.5f);
    p.top_k = 1;
    p.seed = seed;
    Sampler s(p);
    std::vector<float> logits = RandomLogits(65536, seed);
    const int32_t expected = Argmax(logits);
    EXPECT_EQ(s.Sample(logits), expected);
  }
}

TEST(SamplerTest, TinyTopPEqualsGreedyInBothStyles) {
  for (SamplingStyle style : {SamplingStyle::kLlamaCpp, SamplingStyle::kRwkv}) {
    for (uint32_t seed = 0; seed < 10; ++seed) {
      SamplerParams p = Plain(1.0f);
      p.style = style;
      p.top_p = 1e-6f;
      p.seed = seed;
      Sampler s(p);
      std::vector<float> logits = RandomLogits(65536, 100 + seed);
      const int32_t expected = Argmax(logits);
      EXPECT_EQ(s.Sample(logits), expected);
    }
  }
}

TEST(SamplerTest, TemperatureShapesTheDistribution) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  SamplerParams p = Plain(1.0f);
  p.seed = 7;
  Sampler s(p);
  std::vector<double> f = Frequencies(s, logits, 40000);
  EXPECT_NEAR(f[0], 0.5, 0.015);
  EXPECT_NEAR(f[1], 0.3, 0.015);
  EXPECT_NEAR(f[2], 0.2, 0.015);

  p.temperature = 0.5f;  // p^2 renormalised: 0.658, 0.237, 0.105
  Sampler cold(p);
  f = Frequencies(cold, logits, 40000);
  EXPECT_NEAR(f[0], 0.25 / 0.38, 0.015);
  EXPECT_NEAR(f[1], 0.09 / 0.38, 0.015);
  EXPECT_NEAR(f[2], 0.04 / 0.38, 0.015);
}

TEST(SamplerTest, TopKAndTopPAndMinPTruncate) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                                     std::log(0.05f)};
  SamplerParams p = Plain(1.0f);
  p.top_k = 2;
  Sampler top_k(p);
  std::vector<double> f = Frequencies(top_k, logits, 5000);
  EXPECT_EQ(f[2] + f[3], 0.0);
  EXPECT_NEAR(f[0], 0.625, 0.03);

  p = Plain(1.0f);
  p.top_p = 0.7f;  // 0.5 < 0.7 <= 0.8
  Sampler top_p(p);
  f = Frequencies(top_p, logits, 5000);
  EXPECT_EQ(f[2] + f[3], 0.0);
  EXPECT_GT(f[1], 0.0);

  p = Plain(1.0f);
  p.min_p = 0.2f;  // keeps p >= 0.1
  Sampler min_p(p);
  f = Frequencies(min_p, logits, 5000);
  EXPECT_GT(f[2], 0.0);
  EXPECT_EQ(f[3], 0.0);
}

TEST(SamplerTest, RwkvTopPKeepsTiesAtTheCutoff) {
  const std::vector<float> logits = {std::log(0.4f), std::log(0.3f), std::log(0.3f)};
  SamplerParams p = Plain(1.0f);
  p.top_p = 0.6f;
  Sampler llama(p);
  EXPECT_EQ(Frequencies(llama, logits, 3000)[2], 0.0);
  p.style = SamplingStyle::kRwkv;
  Sampler rwkv(p);
  EXPECT_GT(Frequencies(rwkv, logits, 3000)[2], 0.2);
}

TEST(SamplerTest, TopPOnLargeVocabStaysInsideTheNucleus) {
  std::vector<float> logits = RandomLogits(65536, 5, 3.0f);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  double total = 0.0;
  for (float l : logits) total += std::exp(double{l} - logits[order[0]]);
  std::vector<bool> in_nucleus(logits.size(), false);
  double cum = 0.0;
  for (int32_t id : order) {
    in_nucleus[id] = true;
    cum += std::exp(double{logits[id]} - logits[order[0]]);
    if (cum >= 0.9 * total) break;
  }
  SamplerParams p = Plain(1.0f);
  p.top_p = 0.9f;
  p.seed = 11;
  Sampler s(p);
  for (int i = 0; i < 500; ++i) {
    std::vector<float> row = logits;
    EXPECT_TRUE(in_nucleus[s.Sample(row)]);
  }
}

TEST(SamplerTest, RepeatPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplerParams p = Plain(0.0f);
  p.repeat_penalty = 1.1f;
  Sampler s(p);
  s.Accept(0);
  std::vector<float> positive = {2.0f, 1.9f};
  EXPECT_EQ(s.Sample(positive), 1);
  EXPECT_FLOAT_EQ(positive[0], 2.0f / 1.1f);
  std::vector<float> negative = {-1.0f, -1.05f};
  EXPECT_EQ(s.Sample(negative), 1);
  EXPECT_FLOAT_EQ(negative[0], -1.1f);
}

TEST(SamplerTest, LlamaPresenceAndFrequencyCountTheWindow) {
  SamplerParams p = Plain(0.0f);
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  p.repeat_last_n = 3;
  Sampler s(p);
  s.Accept(0);
  s.Accept(0);
  std::vector<float> logits = {2.0f, 1.5f, 0.0f};
  EXPECT_EQ(s.Sample(logits), 1);
  EXPECT_FLOAT_EQ(logits[0], 2.0f - 0.5f - 2 * 0.25f);
  s.Accept(1);
  s.Accept(2);
  s.Accept(2);  // token 0 has left the 3-token window
  std::vector<float> later = {2.0f, 1.5f, 0.0f};
  EXPECT_EQ(s.Sample(later), 0);
  EXPECT_FLOAT_EQ(later[0], 2.0f);
}

TEST(SamplerTest, RwkvPenaltiesDecayOccurrenceCounts) {
  SamplerParams p = SamplerParams::RwkvDefaults();
  p.temperature = 0.0f;
  p.presence_penalty = 0.2f;
  p.frequency_penalty = 0.5f;
  p.penalty_decay = 0.5f;
  Sampler s(p);
  s.Accept(0);
  s.Accept(0);  // occ[0] = 1 * 0.5 + 1
  s.Accept(1);  // occ[0] = 0.75, occ[1] = 1
  std::vector<float> logits = {1.0f, 1.0f, 0.5f};
  EXPECT_EQ(s.Sample(logits), 2);
  EXPECT_FLOAT_EQ(logits[0], 1.0f - 0.2f - 0.75f * 0.5f);
  EXPECT_FLOAT_EQ(logits[1], 1.0f - 0.2f - 1.0f * 0.5f);
  EXPECT_FLOAT_EQ(logits[2], 0.5f);
}

TEST(SamplerTest, BannedTokensAreNeverChosen) {
  SamplerParams p = Plain(1.0f);
  p.banned_tokens = {0, 99999};
  Sampler s(p);
  const std::vector<float> logits = {10.0f, 0.0f, 0.0f};
  EXPECT_EQ(Frequencies(s, logits, 2000)[0], 0.0);
  SamplerParams g = Plain(0.0f);
  g.banned_tokens = {0};
  Sampler banned_greedy(g);
  std::vector<float> row = logits;
  EXPECT_EQ(banned_greedy.Sample(row), 1);
}

TEST(SamplerTest, SameSeedGivesSameSequence) {
  SamplerParams p;  // llama-cli defaults: top-k 40, top-p 0.95, min-p 0.05, T 0.8
  p.seed = 1234;
  p.temperature = 1.5f;
  Sampler a(p);
  Sampler b(p);
  p.seed = 1235;
  Sampler c(p);
  int differences = 0;
  for (uint32_t i = 0; i < 200; ++i) {
    std::vector<float> la = RandomLogits(4096, i, 0.5f);
    std::vector<float> lb = la;
    std::vector<float> lc = la;
    const int32_t ta = a.Sample(la);
    EXPECT_EQ(ta, b.Sample(lb));
    differences += ta != c.Sample(lc);
    a.Accept(ta);
    b.Accept(ta);
    c.Accept(ta);
  }
  EXPECT_GT(differences, 50);
}

TEST(SamplerTest, ReseedRestartsTheSequence) {
  Sampler s(Plain(1.0f));
  s.Reseed(99);
  const double first = s.NextUniform();
  s.NextUniform();
  s.Reseed(99);
  EXPECT_EQ(s.NextUniform(), first);
  EXPECT_GE(first, 0.0);
  EXPECT_LT(first, 1.0);
}

TEST(SamplerTest, NanLogitsAreNeverChosen) {
  Sampler s(Plain(1.0f));
  std::vector<float> logits = {std::nanf(""), 0.0f, std::nanf("")};
  EXPECT_EQ(s.Sample(logits), 1);
  std::vector<float> empty;
  EXPECT_EQ(s.Sample(empty), -1);
}

TEST(SamplerTest, ValidationRejectsBadParameters) {
  EXPECT_TRUE(ValidateSamplerParams(SamplerParams{}).ok());
  EXPECT_TRUE(ValidateSamplerParams(SamplerParams::RwkvDefaults()).ok());
  auto bad = [](auto mutate) {
    SamplerParams p;
    mutate(p);
    return ValidateSamplerParams(p).code();
  };
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(bad([](SamplerParams& p) { p.temperature = std::nanf(""); }), kInvalid);
  EXPECT_EQ(bad([](SamplerParams& p) { p.temperature = -0.5f; }), kInvalid);
  EXPECT_EQ(bad([](SamplerParams& p) { p.top_k = -1; }), kInvalid);
  EXPECT_EQ(bad([](SamplerParams& p) { p.top_p = 0.0f; }), kInvalid);
  EXPECT_EQ(bad([](SamplerParams& p) { p.top_p = 1.01f; }), kInvalid);
  EXPECT_EQ(bad([](SamplerParams& p) { p.min_p = -0.1f; }), kInvalid);
  EXPECT_EQ(bad([](SamplerParams& p) { p.presence_penalty = INFINITY; }), kInvalid);
  EXPECT_EQ(bad([](SamplerParams& p) { p.frequency_penalty = std::nanf(""); }), kInvalid);
  EXPECT_EQ(bad([](SamplerParams& p) { p.penalty_decay = 1.5f; }), kInvalid);
  EXPECT_EQ(bad([](SamplerParams& p) { p.repeat_penalty = 0.0f; }), kInvalid);
  EXPECT_EQ(bad([](SamplerParams& p) { p.repeat_last_n = -1; }), kInvalid);
  EXPECT_EQ(bad([](SamplerParams& p) { p.banned_tokens = {3, -2}; }), kInvalid);
  EXPECT_EQ(bad([](SamplerParams& p) { p.temperature = 0.0f; }), absl::StatusCode::kOk);
}

}  // namespace
}  // namespace rwkv::engine
