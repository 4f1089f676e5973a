// `rwkv bench --json`: one JSON object with the fields llama-bench users and our notes rely on,
// consistent with each other (roofline = bandwidth / bytes per token), the state memory
// growing with --batch, and bad arguments refused with one line.
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "support/json_file.h"
#include "support/test_paths.h"

namespace rwkv {
namespace {

using nlohmann::json;
using rwkv::testing::BinDir;
using rwkv::testing::MakeTempDir;
using rwkv::testing::ParseJsonOrFail;
using rwkv::testing::RunCommand;

// A small Q8_0 model with a 256-token vocabulary, made once per run.
std::string Model() {
  static const std::string path = [] {
    const std::string p = MakeTempDir("bench-model") + "/bench-q8_0.gguf";
    std::string out;
    EXPECT_EQ(RunCommand(absl::StrCat(BinDir(), "/rwkv synth -o ", p,
                                      " --n-embd 128 --n-layer 2 --vocab bytes --type q8_0 -t 2"),
                         &out),
              0)
        << out;
    return p;
  }();
  return path;
}

json Bench(const std::string& flags) {
  const std::string cmd =
      absl::StrCat("{ ", BinDir(), "/rwkv bench -m ", Model(),
                   " -p 8 -n 4 -t 2 --bandwidth-mib 16 --json ", flags, " 2>/dev/null; }");
  std::string out;
  EXPECT_EQ(RunCommand(cmd, &out), 0) << cmd;
  return ParseJsonOrFail(out);
}

TEST(BenchCompatTest, JsonCarriesTheMeasuredFields) {
  const auto j = Bench("");
  ASSERT_TRUE(j.is_object());
  for (const char* key :
       {"pp_tok_s", "tg_tok_s", "threads", "batch", "weight_bytes_per_token", "read_bandwidth_gb_s",
        "roofline_tok_s", "tg_percent_of_roofline", "peak_rss_mb", "file_mb", "state_mb"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_GT(j.at("pp_tok_s").get<double>(), 0);
  EXPECT_GT(j.at("tg_tok_s").get<double>(), 0);
  EXPECT_EQ(j.at("threads").get<int64_t>(), 2);
  EXPECT_EQ(j.at("batch").get<int64_t>(), 1);
  EXPECT_EQ(j.at("n_prompt").get<int64_t>(), 8);
  EXPECT_EQ(j.at("n_gen").get<int64_t>(), 4);

  const double file_mb = static_cast<double>(std::filesystem::file_size(Model())) / 1e6;
  EXPECT_NEAR(j.at("file_mb").get<double>(), file_mb, 0.1);
  // Every tensor but token_embd is read per token: less than the file, more than half of it
  // for this model (its 256-token embedding is a small part).
  const double wbytes = j.at("weight_bytes_per_token").get<double>();
  EXPECT_LT(wbytes, file_mb * 1e6);
  EXPECT_GT(wbytes, 0.5 * file_mb * 1e6);
  const double bw = j.at("read_bandwidth_gb_s").get<double>();
  EXPECT_GT(bw, 0);
  EXPECT_NEAR(j.at("roofline_tok_s").get<double>(), bw * 1e9 / wbytes,
              1e-3 * j.at("roofline_tok_s").get<double>() + 1e-3);
  EXPECT_NEAR(j.at("tg_percent_of_roofline").get<double>(),
              100.0 * j.at("tg_tok_s").get<double>() / j.at("roofline_tok_s").get<double>(), 0.1);
  // The process holds at least the mapped weights it read.
  EXPECT_GT(j.at("peak_rss_mb").get<double>(), wbytes / 1e6);
  EXPECT_GT(j.at("state_mb").get<double>(), 0);
}

TEST(BenchCompatTest, StatesScaleWithTheBatch) {
  const auto one = Bench("");
  const auto four = Bench("--batch 4");
  EXPECT_EQ(four.at("batch").get<int64_t>(), 4);
  EXPECT_GT(four.at("tg_tok_s").get<double>(), 0);
  EXPECT_NEAR(four.at("state_mb").get<double>(), 4 * one.at("state_mb").get<double>(), 0.2);
}

TEST(BenchCompatTest, ReportsThePrecision) {
  EXPECT_EQ(Bench("").at("precision").get<std::string>(), "exact");
  const auto fast = Bench("--precision fast");
  EXPECT_EQ(fast.at("precision").get<std::string>(), "fast");
  EXPECT_NE(fast.at("backend").get<std::string>().find("precision fast"), std::string::npos);
  EXPECT_GT(fast.at("pp_tok_s").get<double>(), 0);
}

TEST(BenchCompatTest, BadArgumentsFailWithOneLine) {
  for (const std::string& args :
       {absl::StrCat("-m ", Model(), " --batch 0"), absl::StrCat("-m ", Model(), " -n -1"),
        std::string("-m /nonexistent/model.gguf"), std::string("-p 4"),
        absl::StrCat("-m ", Model(), " --precision half")}) {
    std::string out;
    const std::string cmd = absl::StrCat(BinDir(), "/rwkv bench ", args, " --json");
    EXPECT_NE(RunCommand(cmd, &out), 0) << cmd;
    EXPECT_EQ(out.find('\n'), out.size() - 1) << cmd << ": " << out;
  }
}

}  // namespace
}  // namespace rwkv
