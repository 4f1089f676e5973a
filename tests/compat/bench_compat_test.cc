// `rwkv bench --json`: one JSON object with the fields llama-bench users and our notes rely on,
// consistent with each other (roofline = bandwidth / bytes per token), the state memory
// growing with --batch, and bad arguments refused with one line.
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "support/json_lite.h"
#include "support/test_paths.h"

namespace rwkv {
namespace {

using rwkv::testing::BinDir;
using rwkv::testing::ParseJson;
using rwkv::testing::ReferenceDir;
using rwkv::testing::RunCommand;

std::string Model() { return ReferenceDir() + "/tiny-rwkv6/tiny-rwkv6-q8_0.gguf"; }

rwkv::testing::JsonValue Bench(const std::string& flags) {
  const std::string cmd =
      absl::StrCat("{ ", BinDir(), "/rwkv bench -m ", Model(),
                   " -p 8 -n 4 -t 2 --bandwidth-mib 16 --json ", flags, " 2>/dev/null; }");
  std::string out;
  EXPECT_EQ(RunCommand(cmd, &out), 0) << cmd;
  auto json = ParseJson(out);
  EXPECT_TRUE(json.ok()) << out;
  return json.ok() ? *json : rwkv::testing::JsonValue();
}

TEST(BenchCompatTest, JsonCarriesTheMeasuredFields) {
  const auto j = Bench("");
  ASSERT_TRUE(j.is_object());
  for (const char* key :
       {"pp_tok_s", "tg_tok_s", "threads", "batch", "weight_bytes_per_token", "read_bandwidth_gb_s",
        "roofline_tok_s", "tg_percent_of_roofline", "peak_rss_mb", "file_mb", "state_mb"}) {
    EXPECT_NE(j.Find(key), nullptr) << key;
  }
  EXPECT_GT(j["pp_tok_s"].AsNumber(), 0);
  EXPECT_GT(j["tg_tok_s"].AsNumber(), 0);
  EXPECT_EQ(j["threads"].AsInt(), 2);
  EXPECT_EQ(j["batch"].AsInt(), 1);
  EXPECT_EQ(j["n_prompt"].AsInt(), 8);
  EXPECT_EQ(j["n_gen"].AsInt(), 4);

  const double file_mb = static_cast<double>(std::filesystem::file_size(Model())) / 1e6;
  EXPECT_NEAR(j["file_mb"].AsNumber(), file_mb, 0.1);
  // Every tensor but token_embd is read per token: less than the file, more than half of it
  // for this model (its embedding is a small part).
  const double wbytes = j["weight_bytes_per_token"].AsNumber();
  EXPECT_LT(wbytes, file_mb * 1e6);
  EXPECT_GT(wbytes, 0.5 * file_mb * 1e6);
  const double bw = j["read_bandwidth_gb_s"].AsNumber();
  EXPECT_GT(bw, 0);
  EXPECT_NEAR(j["roofline_tok_s"].AsNumber(), bw * 1e9 / wbytes,
              1e-3 * j["roofline_tok_s"].AsNumber() + 1e-3);
  EXPECT_NEAR(j["tg_percent_of_roofline"].AsNumber(),
              100.0 * j["tg_tok_s"].AsNumber() / j["roofline_tok_s"].AsNumber(), 0.1);
  // The process holds at least the mapped weights it read.
  EXPECT_GT(j["peak_rss_mb"].AsNumber(), wbytes / 1e6);
  EXPECT_GT(j["state_mb"].AsNumber(), 0);
}

TEST(BenchCompatTest, StatesScaleWithTheBatch) {
  const auto one = Bench("");
  const auto four = Bench("--batch 4");
  EXPECT_EQ(four["batch"].AsInt(), 4);
  EXPECT_GT(four["tg_tok_s"].AsNumber(), 0);
  EXPECT_NEAR(four["state_mb"].AsNumber(), 4 * one["state_mb"].AsNumber(), 0.2);
}

TEST(BenchCompatTest, BadArgumentsFailWithOneLine) {
  for (const std::string& args :
       {absl::StrCat("-m ", Model(), " --batch 0"), absl::StrCat("-m ", Model(), " -n -1"),
        std::string("-m /nonexistent/model.gguf"), std::string("-p 4")}) {
    std::string out;
    const std::string cmd = absl::StrCat(BinDir(), "/rwkv bench ", args, " --json");
    EXPECT_NE(RunCommand(cmd, &out), 0) << cmd;
    EXPECT_EQ(out.find('\n'), out.size() - 1) << cmd << ": " << out;
  }
}

}  // namespace
}  // namespace rwkv
