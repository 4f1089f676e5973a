// The statistics of rwkv perplexity against values worked out by hand, and the KLD base file
// parser on well-formed and corrupt input.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "gtest/gtest.h"
#include "rwkv/engine/perplexity.h"
#include "support/test_paths.h"

namespace rwkv::engine {
namespace {

TEST(NllStatsTest, PerplexityAndErrorByHand) {
  // nll = 1, 2, 3: mean 2, nll2/count = 14/3, var = 14/3 − 4 = 2/3,
  // err = sqrt((2/3)/2) = sqrt(1/3), PPL = e², PPL err = e²·sqrt(1/3).
  NllStats s;
  s.Add(1);
  s.Add(2);
  s.Add(3);
  EXPECT_EQ(s.count, 3u);
  EXPECT_DOUBLE_EQ(s.MeanNll(), 2.0);
  EXPECT_NEAR(s.Ppl(), std::exp(2.0), 1e-12);
  EXPECT_NEAR(s.PplError(), std::exp(2.0) * std::sqrt(1.0 / 3.0), 1e-12);
}

TEST(NllStatsTest, NoErrorForOneValueOrZeroVariance) {
  NllStats s;
  s.Add(0.5);
  EXPECT_EQ(s.PplError(), 0.0);
  s.Add(0.5);
  EXPECT_EQ(s.PplError(), 0.0);
  EXPECT_NEAR(s.Ppl(), std::exp(0.5), 1e-12);
}

TEST(MeanWithErrorTest, MatchesTheFormulaAndNeedsMoreThanTenValues) {
  // 0..11: sum 66, sum2 506, n 12: mean 5.5, var = 506/12 − 30.25 = 11.9166…,
  // err = sqrt(var/11).
  double sum = 0, sum2 = 0;
  for (int i = 0; i < 12; ++i) {
    sum += i;
    sum2 += i * i;
  }
  const MeanAndError m = MeanWithError(sum, sum2, 12);
  EXPECT_DOUBLE_EQ(m.mean, 5.5);
  EXPECT_NEAR(m.error, std::sqrt((506.0 / 12 - 30.25) / 11), 1e-12);
  EXPECT_EQ(MeanWithError(sum, sum2, 10).error, 0.0);
  EXPECT_EQ(MeanWithError(0, 0, 0).mean, 0.0);
}

TEST(MeanCovarianceTest, ByHand) {
  // a = b = 0..11: covariance of the means = var/(n−1) = 11.9166…/11.
  double s = 0, s2 = 0;
  for (int i = 0; i < 12; ++i) {
    s += i;
    s2 += i * i;
  }
  EXPECT_NEAR(MeanCovariance(s, s, s2, 12), (506.0 / 12 - 30.25) / 11, 1e-12);
  EXPECT_EQ(MeanCovariance(s, s, s2, 9), 0.0);
}

TEST(TokenNllTest, UniformAndTwoLogits) {
  const std::vector<float> uniform(4, 3.0f);
  EXPECT_NEAR(TokenNll(uniform, 2), std::log(4.0), 1e-6);
  // logits (0, ln 3): p = (1/4, 3/4).
  const std::vector<float> two = {0.0f, static_cast<float>(std::log(3.0))};
  EXPECT_NEAR(TokenNll(two, 0), std::log(4.0), 1e-6);
  EXPECT_NEAR(TokenNll(two, 1), std::log(4.0 / 3.0), 1e-6);
}

TEST(CompressLogProbsTest, RowLayoutByHand) {
  // logits (0, 1, 2): max 2, min 0 (within 16), scale 2/65535, lse = ln(e⁻² + e⁻¹ + 1).
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  std::vector<uint16_t> row(LogProbRowWords(3));
  ASSERT_EQ(row.size(), 4u + 4u);  // vocabulary padded to an even count
  const double nll = CompressLogProbs(logits, 1, row);
  const double lse = std::log(std::exp(-2.0) + std::exp(-1.0) + 1.0);
  EXPECT_NEAR(nll, 1.0 + lse, 1e-6);
  float scale, min_lp;
  std::memcpy(&scale, row.data(), 4);
  std::memcpy(&min_lp, row.data() + 2, 4);
  EXPECT_NEAR(scale, 2.0 / 65535, 1e-9);
  EXPECT_NEAR(min_lp, -2.0 - lse, 1e-6);
  EXPECT_EQ(row[4], 0);
  EXPECT_EQ(row[5], 32768);  // round(1 / (2/65535)) = round(32767.5)
  EXPECT_EQ(row[6], 65535);
  EXPECT_EQ(row[7], 0);  // padding
  // Decoded log-probabilities are within half a step of the truth.
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(scale * row[4 + i] + min_lp, logits[i] - 2.0 - lse, scale);
  }
}

TEST(KldTest, AgainstItselfIsNearZeroWithTheSameTopToken) {
  const std::vector<float> logits = {0.3f, -1.0f, 2.5f, 0.0f, 1.7f};
  std::vector<uint16_t> row(LogProbRowWords(5));
  CompressLogProbs(logits, 2, row);
  KldStats st;
  float p_diff = 1;
  const double kld = AddKldPosition(logits, row, 2, st, &p_diff);
  EXPECT_NEAR(kld, 0.0, 1e-4);
  EXPECT_NEAR(p_diff, 0.0f, 1e-4);
  EXPECT_EQ(st.n_same_top, 1u);
  EXPECT_EQ(st.count, 1u);
}

TEST(KldTest, ATieInTheStoredRowCountsAsTheSameTopToken) {
  // Entries 0 and 1 are 1e-6 apart, far below one 16-bit step (1/65535): stored equal.
  const std::vector<float> logits = {1.0f, 1.000001f, 0.0f};
  std::vector<uint16_t> row(LogProbRowWords(3));
  CompressLogProbs(logits, 0, row);
  ASSERT_EQ(row[4], row[5]);
  KldStats st;
  AddKldPosition(logits, row, 0, st, nullptr);  // Q's top is id 1, the row's first top id 0
  EXPECT_EQ(st.n_same_top, 1u);
  const std::vector<float> other = {0.0f, 0.0f, 3.0f};  // a clearly different top token
  AddKldPosition(other, row, 0, st, nullptr);
  EXPECT_EQ(st.n_same_top, 1u);
  EXPECT_EQ(st.count, 2u);
}

TEST(KldTest, TwoTokenDistributionsByHand) {
  // base p = (1/2, 1/2) (logits 0, 0); Q q = (1/4, 3/4) (logits 0, ln 3).
  // KL(p‖q) = ½ln(½/¼) + ½ln(½/¾) = ½ln 2 + ½ln(2/3) = ½ln(4/3).
  const std::vector<float> base_logits = {0.0f, 0.0f};
  std::vector<uint16_t> row(LogProbRowWords(2));
  CompressLogProbs(base_logits, 0, row);
  const std::vector<float> q = {0.0f, static_cast<float>(std::log(3.0))};
  KldStats st;
  float p_diff = 0;
  const double kld = AddKldPosition(q, row, 0, st, &p_diff);
  EXPECT_NEAR(kld, 0.5 * std::log(4.0 / 3.0), 1e-6);
  EXPECT_NEAR(p_diff, 0.25 - 0.5, 1e-6);              // p_Q(token 0) − p_base(token 0)
  EXPECT_NEAR(st.sum_nll, std::log(4.0), 1e-6);       // −ln ¼
  EXPECT_NEAR(st.sum_nll_base, std::log(2.0), 1e-6);  // −ln ½
  EXPECT_EQ(st.n_same_top, 1u);  // Q → id 1, which ties with id 0 in the base row
}

TEST(PercentileTest, InterpolatesLikeLlamaPerplexity) {
  const std::vector<float> v = {0, 1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(Percentile(v, 0.5), 2.0);
  EXPECT_DOUBLE_EQ(Percentile(v, 0.9), 3.6);  // 0.9·4 = 3.6 → 3 + 0.6
  EXPECT_DOUBLE_EQ(Percentile(v, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(Percentile(v, 1.0), 4.0);
  EXPECT_DOUBLE_EQ(Median(v), 2.0);
  const std::vector<float> even = {1, 2, 3, 10};
  EXPECT_DOUBLE_EQ(Median(even), 2.5);
}

TEST(SummarizeKldTest, FiguresFromSums) {
  KldStats st;
  std::vector<float> klds, pdiffs;
  for (int i = 0; i < 20; ++i) {
    const double k = 0.01 * i;
    st.sum_kld += k;
    st.sum_kld2 += k * k;
    st.sum_nll += 2.0;
    st.sum_nll2 += 4.0;
    st.sum_nll_base += 1.0;
    st.sum_nll_base2 += 1.0;
    st.sum_nll_nll_base += 2.0;
    ++st.count;
    klds.push_back(static_cast<float>(k));
    pdiffs.push_back(0.0f);
  }
  st.n_same_top = 15;
  const KldSummary s = SummarizeKld(st, klds, pdiffs);
  EXPECT_NEAR(s.kld.value, 0.095, 1e-12);
  EXPECT_NEAR(s.ppl_q.value, std::exp(2.0), 1e-9);
  EXPECT_NEAR(s.ppl_base.value, std::exp(1.0), 1e-9);
  EXPECT_NEAR(s.ln_ppl_ratio.value, 1.0, 1e-12);
  EXPECT_NEAR(s.ppl_ratio.value, std::exp(1.0), 1e-9);
  EXPECT_NEAR(s.kld_spread.max, 0.19, 1e-6);
  EXPECT_NEAR(s.kld_spread.min, 0.0, 1e-9);
  EXPECT_NEAR(s.kld_spread.median, 0.095, 1e-6);
  EXPECT_NEAR(s.kld_spread.p99, 0.99 * 19 * 0.01, 1e-6);
  EXPECT_NEAR(s.same_top.value, 0.75, 1e-12);
  EXPECT_NEAR(s.same_top.error, std::sqrt(0.75 * 0.25 / 19), 1e-12);
}

// --- the base file ------------------------------------------------------------------------

std::vector<uint8_t> ValidFile(uint32_t n_ctx, int32_t n_vocab, int32_t n_chunk) {
  LogProbFileHeader h;
  h.n_ctx = n_ctx;
  h.n_vocab = n_vocab;
  h.n_chunk = n_chunk;
  std::vector<uint8_t> bytes(LogProbFileHeaderBytes(static_cast<uint64_t>(n_ctx) * n_chunk) +
                             h.chunk_words() * 2 * static_cast<size_t>(n_chunk));
  std::memcpy(bytes.data(), kLogProbFileMagic, 8);
  const uint32_t fixed[3] = {n_ctx, static_cast<uint32_t>(n_vocab), static_cast<uint32_t>(n_chunk)};
  std::memcpy(bytes.data() + 8, fixed, 12);
  return bytes;  // tokens all 0
}

TEST(LogProbFileTest, ParsesAWellFormedHeader) {
  const std::vector<uint8_t> b = ValidFile(8, 5, 2);
  absl::StatusOr<LogProbFileHeader> h = ParseLogProbFileHeader(b, b.size(), "x");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->n_ctx, 8u);
  EXPECT_EQ(h->tokens.size(), 16u);
  EXPECT_EQ(h->scored_per_chunk(), 3u);  // positions 4, 5, 6 score tokens 5, 6, 7
}

TEST(LogProbFileTest, RejectsCorruptFiles) {
  const std::vector<uint8_t> good = ValidFile(8, 5, 2);
  auto bad = [&](std::vector<uint8_t> b, uint64_t size) {
    absl::StatusOr<LogProbFileHeader> h = ParseLogProbFileHeader(b, size, "f.kld");
    EXPECT_FALSE(h.ok());
    if (!h.ok()) {
      EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(h.status().message().find("f.kld"), std::string::npos);
    }
  };
  std::vector<uint8_t> b = good;
  b[0] = 'X';
  bad(b, b.size());                                                // magic
  bad(std::vector<uint8_t>(good.begin(), good.begin() + 10), 10);  // truncated header
  bad(good, good.size() - 1);                                      // size mismatch
  bad(good, good.size() + 2);
  b = good;
  b[8] = 2;  // n_ctx 2
  bad(b, b.size());
  b = good;
  b[16] = 0;  // n_chunk 0
  bad(b, b.size());
  b = good;
  b[19] = 0x80;  // n_chunk negative
  bad(b, b.size());
  b = good;
  b[20] = 5;  // token 5 outside a vocabulary of 5
  bad(b, b.size());
}

TEST(LogProbFileTest, WriterAndReaderRoundTrip) {
  const std::string dir = rwkv::testing::MakeTempDir("logprob-file");
  const std::string path = dir + "/base.kld";
  LogProbFileHeader h;
  h.n_ctx = 6;
  h.n_vocab = 3;
  h.n_chunk = 2;
  h.tokens = {0, 1, 2, 0, 1, 2, 2, 1, 0, 2, 1, 0};
  {
    absl::StatusOr<std::unique_ptr<LogProbFileWriter>> w = LogProbFileWriter::Create(path, h);
    ASSERT_TRUE(w.ok()) << w.status();
    std::vector<uint16_t> chunk(h.chunk_words());
    for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<uint16_t>(i);
    ASSERT_TRUE((*w)->WriteRows(chunk).ok());
    EXPECT_FALSE(std::filesystem::exists(path));  // not before Commit
    EXPECT_FALSE((*w)->Commit().ok());            // one chunk missing
    EXPECT_FALSE((*w)->WriteRows(std::span<const uint16_t>(chunk).first(3)).ok());  // partial row
    for (auto& x : chunk) x = static_cast<uint16_t>(x + 1000);
    ASSERT_TRUE((*w)->WriteRows(chunk).ok());
    EXPECT_FALSE((*w)->WriteRows(chunk).ok());  // more rows than the header holds
    ASSERT_TRUE((*w)->Commit().ok());
  }
  absl::StatusOr<std::unique_ptr<LogProbFileReader>> r = LogProbFileReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->header().tokens, h.tokens);
  std::vector<uint16_t> got(h.chunk_words());
  ASSERT_TRUE((*r)->ReadRows(1, 0, got).ok());
  EXPECT_EQ(got[0], 1000);
  EXPECT_EQ(got.back(), static_cast<uint16_t>(1000 + got.size() - 1));
  EXPECT_FALSE((*r)->ReadRows(2, 0, got).ok());
  // The second row of chunk 0 alone.
  const size_t row_words = LogProbRowWords(3);
  std::vector<uint16_t> one(row_words);
  ASSERT_TRUE((*r)->ReadRows(0, 1, one).ok());
  EXPECT_EQ(one[0], row_words);
  EXPECT_FALSE((*r)->ReadRows(0, h.scored_per_chunk(), one).ok());  // past the chunk

  EXPECT_EQ(LogProbFileReader::Open(dir + "/missing.kld").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace rwkv::engine
