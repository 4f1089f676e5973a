// The `rwkv perplexity` command on the shipped tiny model: the perplexity equals exp(mean nll)
// computed independently from `rwkv logits`, a model against itself has KL divergence 0 and
// the same top token everywhere, a Q8_0 copy differs a little, and bad input gives one line
// and a non-zero exit.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "support/test_paths.h"

namespace rwkv::testing {
namespace {

constexpr int kCtx = 64;
constexpr int kVocab = 256;

// Deterministic text of `n` bytes (the tiny model's vocabulary is the 256 bytes).
std::string MakeText(size_t n) {
  const std::string words[] = {"the ",       "spring ", "festival ", "is ",   "a ",
                               "time ",      "for ",    "family, ",  "food ", "and ",
                               "lanterns. ", "1234 ",   "\n"};
  std::string s;
  uint32_t x = 12345;
  while (s.size() < n) {
    x = x * 1103515245u + 12345u;
    s += words[(x >> 16) % 13];
  }
  s.resize(n);
  return s;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

nlohmann::json ReadJson(const std::string& path) {
  return nlohmann::json::parse(ReadFileOrDie(path), nullptr, /*allow_exceptions=*/false);
}

class PerplexityCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rwkv_ = BinDir() + "/rwkv";
    model_ = DataPath("tiny-rwkv6-r/tiny-rwkv6-r-f32.gguf");
    if (!std::filesystem::exists(rwkv_)) GTEST_SKIP() << "rwkv binary not built: " << rwkv_;
    RWKV_SKIP_WITHOUT_DATA(model_);
    dir_ = MakeTempDir("perplexity-cli");
    text_ = MakeText(3 * kCtx + 17);  // 3 whole chunks and a dropped partial one
    text_path_ = dir_ + "/text.txt";
    WriteFile(text_path_, text_);
  }
  std::string Run(const std::string& args, int* rc) {
    std::string log;
    *rc = RunCommand(rwkv_ + " perplexity " + args, &log);
    return log;
  }
  // Runs with --json, stdout into `out`; returns stderr.
  std::string RunJson(const std::string& args, const std::string& out, int* rc) {
    std::string ignored;
    *rc = RunCommand(
        "(" + rwkv_ + " perplexity " + args + " --json > " + out + " 2> " + out + ".log)",
        &ignored);
    return ReadFileOrDie(out + ".log");
  }
  std::string rwkv_, model_, dir_, text_, text_path_;
};

TEST_F(PerplexityCliTest, PerplexityIsExpOfTheMeanNllFromRwkvLogits) {
  int rc = 0;
  const std::string json_path = dir_ + "/ppl.json";
  const std::string log =
      RunJson("-m " + model_ + " -f " + text_path_ + " -c " + std::to_string(kCtx) + " -t 2",
              json_path, &rc);
  ASSERT_EQ(rc, 0) << log;
  const nlohmann::json j = ReadJson(json_path);
  ASSERT_TRUE(j.is_object()) << ReadFileOrDie(json_path);
  ASSERT_EQ(j["chunks"].get<int>(), 3);
  ASSERT_EQ(j["tokens_scored"].get<int>(), 3 * (kCtx - 1 - kCtx / 2));

  // Independently: every chunk through `rwkv logits` from the zero state, log-softmax in
  // double here, positions n_ctx/2 .. n_ctx-2 scoring the next token.
  std::vector<double> nlls;
  for (int c = 0; c < 3; ++c) {
    std::string ids;
    for (int i = 0; i < kCtx; ++i) {
      if (i) ids += ",";
      ids += std::to_string(static_cast<unsigned char>(text_[c * kCtx + i]));
    }
    const std::string out = dir_ + "/chunk" + std::to_string(c) + ".f32";
    std::string llog;
    ASSERT_EQ(
        RunCommand(rwkv_ + " logits -m " + model_ + " -t 2 --tokens " + ids + " -o " + out, &llog),
        0)
        << llog;
    const std::string bytes = ReadFileOrDie(out);
    ASSERT_EQ(bytes.size(), static_cast<size_t>(kCtx) * kVocab * 4);
    std::vector<float> logits(static_cast<size_t>(kCtx) * kVocab);
    std::memcpy(logits.data(), bytes.data(), bytes.size());
    for (int pos = kCtx / 2; pos < kCtx - 1; ++pos) {
      const float* row = logits.data() + static_cast<size_t>(pos) * kVocab;
      double mx = row[0];
      for (int v = 1; v < kVocab; ++v) mx = std::max(mx, static_cast<double>(row[v]));
      double sum = 0;
      for (int v = 0; v < kVocab; ++v) sum += std::exp(row[v] - mx);
      const int next = static_cast<unsigned char>(text_[c * kCtx + pos + 1]);
      nlls.push_back(mx + std::log(sum) - row[next]);
    }
  }
  double mean = 0, mean2 = 0;
  for (double v : nlls) {
    mean += v;
    mean2 += v * v;
  }
  const double n = static_cast<double>(nlls.size());
  mean /= n;
  mean2 /= n;
  const double ppl = std::exp(mean);
  const double err = ppl * std::sqrt((mean2 - mean * mean) / (n - 1));
  EXPECT_NEAR(j["mean_nll"].get<double>(), mean, 1e-6);
  EXPECT_NEAR(j["ppl"].get<double>(), ppl, 1e-6 * ppl);
  EXPECT_NEAR(j["ppl_error"].get<double>(), err, 1e-5 * err);

  // The text output: running estimates and the final line.
  const std::string text_log =
      Run("-m " + model_ + " -f " + text_path_ + " -c " + std::to_string(kCtx), &rc);
  ASSERT_EQ(rc, 0) << text_log;
  EXPECT_NE(text_log.find("[1]"), std::string::npos) << text_log;
  EXPECT_NE(text_log.find("[3]"), std::string::npos) << text_log;
  EXPECT_NE(text_log.find("Final estimate: PPL = "), std::string::npos) << text_log;
}

TEST_F(PerplexityCliTest, BatchingChunksGivesTheSamePerplexity) {
  int rc = 0;
  const std::string a = dir_ + "/a.json", b = dir_ + "/b.json";
  ASSERT_EQ((RunJson("-m " + model_ + " -f " + text_path_ + " -c 64 -b 64", a, &rc), rc), 0);
  ASSERT_EQ((RunJson("-m " + model_ + " -f " + text_path_ + " -c 64 -b 256", b, &rc), rc), 0);
  EXPECT_NEAR(ReadJson(a)["ppl"].get<double>(), ReadJson(b)["ppl"].get<double>(), 1e-9);
}

TEST_F(PerplexityCliTest, SlicedLogitsOnAWorldVocabularyGiveTheSameFigures) {
  // 4 chunks of 512 with the 65,536-token vocabulary: -b 2048 evaluates them together and asks
  // for the logits in slices of 128 positions; -b 512 one chunk at a time, unsliced.
  const std::string world = DataPath("tiny-rwkv6/tiny-rwkv6-f16.gguf");
  RWKV_SKIP_WITHOUT_DATA(world);
  const std::string text = dir_ + "/long.txt";
  WriteFile(text, MakeText(40000));
  int rc = 0;
  const std::string a = dir_ + "/w1.json", b = dir_ + "/w4.json";
  std::string log =
      RunJson("-m " + world + " -f " + text + " -c 512 --chunks 4 -b 512 -t 2", a, &rc);
  ASSERT_EQ(rc, 0) << log;
  log = RunJson("-m " + world + " -f " + text + " -c 512 --chunks 4 -b 2048 -t 2", b, &rc);
  ASSERT_EQ(rc, 0) << log;
  EXPECT_EQ(ReadJson(a)["ppl"].get<double>(), ReadJson(b)["ppl"].get<double>());
  EXPECT_EQ(ReadJson(a)["running_ppl"], ReadJson(b)["running_ppl"]);
  EXPECT_EQ(ReadJson(b)["tokens_scored"].get<int>(), 4 * 255);
}

TEST_F(PerplexityCliTest, AModelAgainstItselfHasZeroKlDivergence) {
  int rc = 0;
  const std::string base = dir_ + "/self.kld";
  std::string log =
      RunJson("-m " + model_ + " -f " + text_path_ + " -c 64 --kl-divergence-base " + base,
              dir_ + "/base.json", &rc);
  ASSERT_EQ(rc, 0) << log;
  ASSERT_TRUE(std::filesystem::exists(base));
  const std::string out = dir_ + "/self.json";
  log = RunJson(
      "-m " + model_ + " -f " + text_path_ + " --kl-divergence --kl-divergence-base " + base, out,
      &rc);
  ASSERT_EQ(rc, 0) << log;
  const nlohmann::json j = ReadJson(out);
  ASSERT_TRUE(j.is_object()) << ReadFileOrDie(out);
  // The base stores log-probabilities in 16 bits, so "zero" is zero to that resolution.
  EXPECT_NEAR(j["kld"]["value"].get<double>(), 0.0, 1e-5);
  EXPECT_LT(j["kld_percentiles"]["max"].get<double>(), 1e-4);
  EXPECT_DOUBLE_EQ(j["same_top"]["value"].get<double>(), 1.0);
  // KLD mode sums float nlls, as llama-perplexity does.
  const double ppl = ReadJson(dir_ + "/base.json")["ppl"].get<double>();
  EXPECT_NEAR(j["ppl_q"]["value"].get<double>(), ppl, 1e-6 * ppl);
  EXPECT_NEAR(j["ln_ppl_ratio"]["value"].get<double>(), 0.0, 1e-4);
  EXPECT_EQ(j["positions"].get<int>(), 3 * (kCtx - 1 - kCtx / 2));
}

TEST_F(PerplexityCliTest, Q8_0AgainstF32IsSmallButNotZero) {
  int rc = 0;
  const std::string q8 = dir_ + "/q8_0.gguf";
  std::string log;
  ASSERT_EQ(RunCommand(rwkv_ + " quantize " + model_ + " " + q8 + " Q8_0 -q", &log), 0) << log;
  const std::string base = dir_ + "/f32.kld";
  log = Run("-m " + model_ + " -f " + text_path_ + " -c 64 --kl-divergence-base " + base, &rc);
  ASSERT_EQ(rc, 0) << log;
  const std::string out = dir_ + "/q8.json";
  log = RunJson("-m " + q8 + " --kl-divergence --kl-divergence-base " + base, out, &rc);
  ASSERT_EQ(rc, 0) << log;
  const nlohmann::json j = ReadJson(out);
  const double kld = j["kld"]["value"].get<double>();
  EXPECT_GT(kld, 1e-6);
  EXPECT_LT(kld, 0.01);
  EXPECT_GT(j["same_top"]["value"].get<double>(), 0.9);
}

TEST_F(PerplexityCliTest, ClearErrors) {
  int rc = 0;
  std::string log = Run("-m " + model_ + " -f " + dir_ + "/missing.txt", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(log.find("missing.txt"), std::string::npos) << log;

  // Too short: 3·64+17 tokens with -c 128 needs 256.
  log = Run("-m " + model_ + " -f " + text_path_ + " -c 128", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(log.find("256"), std::string::npos) << log;
  EXPECT_NE(log.find(std::to_string(text_.size())), std::string::npos) << log;

  // A corrupt base file: one line naming it.
  const std::string corrupt = dir_ + "/corrupt.kld";
  WriteFile(corrupt, "_logits_\x40\0\0\0garbage");
  log = Run("-m " + model_ + " --kl-divergence --kl-divergence-base " + corrupt, &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(log.find("corrupt.kld"), std::string::npos) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;

  // A base of one text checked against another text.
  const std::string base = dir_ + "/b.kld";
  ASSERT_EQ(
      (Run("-m " + model_ + " -f " + text_path_ + " -c 64 --kl-divergence-base " + base, &rc), rc),
      0);
  const std::string other = dir_ + "/other.txt";
  WriteFile(other, std::string(300, 'x'));
  log = Run("-m " + model_ + " -f " + other + " --kl-divergence --kl-divergence-base " + base, &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(log.find("token mismatch"), std::string::npos) << log;

  // --kl-divergence-base written only on success.
  const std::string never = dir_ + "/never.kld";
  Run("-m " + model_ + " -f " + text_path_ + " -c 128 --kl-divergence-base " + never, &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_FALSE(std::filesystem::exists(never));
}

TEST_F(PerplexityCliTest, VocabularyMismatchIsAnError) {
  const std::string world = DataPath("tiny-rwkv6/tiny-rwkv6-f16.gguf");
  RWKV_SKIP_WITHOUT_DATA(world);
  int rc = 0;
  const std::string base = dir_ + "/bytes.kld";
  ASSERT_EQ(
      (Run("-m " + model_ + " -f " + text_path_ + " -c 64 --kl-divergence-base " + base, &rc), rc),
      0);
  const std::string log = Run("-m " + world + " --kl-divergence --kl-divergence-base " + base, &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(log.find("vocabulary mismatch"), std::string::npos) << log;
}

}  // namespace
}  // namespace rwkv::testing
