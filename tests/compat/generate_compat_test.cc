// `rwkv generate` end to end: greedy decoding follows the reference argmax and our own logits,
// is deterministic, and a seed reproduces a sampled completion.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "support/json_file.h"
#include "support/test_paths.h"

namespace rwkv {
namespace {

using rwkv::testing::BinDir;
using rwkv::testing::DataPath;
using rwkv::testing::MakeTempDir;
using rwkv::testing::RunCommand;

const char kChat[] = "User: What's Spring Festival?\n\nAssistant:";

std::string WritePrompt(const std::string& dir, const std::string& text) {
  const std::string path = dir + "/prompt.txt";
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// Runs rwkv generate with only the completion on stdout (stderr discarded).
std::string Generate(const std::string& model, const std::string& prompt_file,
                     const std::string& flags) {
  const std::string cmd =
      absl::StrCat("{ ", BinDir(), "/rwkv generate -m ", model, " -f ", prompt_file,
                   " --no-display-prompt -t 2 ", flags, " 2>/dev/null; }");
  std::string out;
  EXPECT_EQ(RunCommand(cmd, &out), 0) << cmd;
  // The command ends its output with one newline.
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

int64_t ReferenceArgmax(const std::string& model_dir, const std::string& run, size_t position) {
  const nlohmann::json summary =
      rwkv::testing::ReadJsonFile(DataPath(model_dir) + "/logits/summary.json");
  const nlohmann::json& rows = summary.at("runs").at(run);
  EXPECT_LT(position, rows.size());
  return rows.at(position).at("argmax").get<int64_t>();
}

TEST(GenerateCompatTest, GreedyFirstTokenIsTheReferenceArgmax) {
  const std::string dir = MakeTempDir("generate-first");
  const std::string prompt = WritePrompt(dir, kChat);
  const std::string model = DataPath("tiny-rwkv6/tiny-rwkv6-f16.gguf");
  RWKV_SKIP_WITHOUT_DATA(model);
  const std::string out = Generate(model, prompt, "--temp 0 -n 1 --ignore-eos");
  const int64_t argmax = ReferenceArgmax("tiny-rwkv6", "llamacpp-f16gguf-chat", 10);
  std::string expected;
  ASSERT_EQ(RunCommand(absl::StrCat(BinDir(), "/rwkv detokenize -m ", model, " --ids ", argmax),
                       &expected),
            0);
  EXPECT_EQ(out, expected);
}

TEST(GenerateCompatTest, GreedyDecodingFollowsOwnLogitsAndIsDeterministic) {
  // Byte vocabulary: every output byte is the token id, so the path can be checked exactly.
  const std::string dir = MakeTempDir("generate-greedy");
  const std::string prompt = WritePrompt(dir, kChat);
  const std::string model = DataPath("tiny-rwkv6-r/tiny-rwkv6-r-f32.gguf");
  const std::string out = Generate(model, prompt, "--temp 0 -n 12");
  ASSERT_EQ(out.size(), 12u);
  EXPECT_EQ(out, Generate(model, prompt, "--temp 0 -n 12"));
  EXPECT_EQ(static_cast<uint8_t>(out[0]),
            ReferenceArgmax("tiny-rwkv6-r", "torch-fp32-rescale-emulated-bytes_chat", 40));

  std::vector<int> ids;
  for (unsigned char c : std::string(kChat) + out) ids.push_back(c);
  const std::string logits_path = dir + "/logits.f32";
  std::string log;
  ASSERT_EQ(RunCommand(absl::StrCat(BinDir(), "/rwkv logits -m ", model, " --tokens ",
                                    absl::StrJoin(ids, ","), " -o ", logits_path),
                       &log),
            0)
      << log;
  const std::string raw = rwkv::testing::ReadFileOrDie(logits_path);
  ASSERT_EQ(raw.size(), ids.size() * 256 * sizeof(float));
  const size_t prompt_len = std::strlen(kChat);
  for (size_t i = 0; i < out.size(); ++i) {
    const float* row = reinterpret_cast<const float*>(raw.data()) + (prompt_len - 1 + i) * 256;
    int best = 0;
    for (int v = 1; v < 256; ++v) {
      if (row[v] > row[best]) best = v;
    }
    EXPECT_EQ(best, static_cast<uint8_t>(out[i])) << "generated position " << i;
  }
}

TEST(GenerateCompatTest, SameSeedGivesSameText) {
  const std::string dir = MakeTempDir("generate-seed");
  const std::string prompt = WritePrompt(dir, kChat);
  const std::string model = DataPath("tiny-rwkv6-r/tiny-rwkv6-r-f16.gguf");
  const std::string a = Generate(model, prompt, "--temp 1.0 --top-k 0 --top-p 1 -n 24 --seed 7");
  const std::string b = Generate(model, prompt, "--temp 1.0 --top-k 0 --top-p 1 -n 24 --seed 7");
  const std::string c = Generate(model, prompt, "--temp 1.0 --top-k 0 --top-p 1 -n 24 --seed 8");
  EXPECT_EQ(a.size(), 24u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(GenerateCompatTest, BadInputFailsWithOneLine) {
  const std::string dir = MakeTempDir("generate-bad");
  std::string out;
  EXPECT_NE(
      RunCommand(absl::StrCat(BinDir(), "/rwkv generate -m ", dir, "/missing.gguf -p hi"), &out),
      0);
  EXPECT_NE(out.find("missing.gguf"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  const std::string model = DataPath("tiny-rwkv6-r/tiny-rwkv6-r-f32.gguf");
  EXPECT_NE(
      RunCommand(absl::StrCat(BinDir(), "/rwkv generate -m ", model, " -p hi --top-p 2"), &out), 0);
  EXPECT_NE(out.find("top_p"), std::string::npos) << out;
  // A state file made for another model shape is refused.
  const std::string other = dir + "/other-shape.gguf";
  ASSERT_EQ(RunCommand(absl::StrCat(BinDir(), "/rwkv synth -o ", other,
                                    " --n-embd 128 --n-layer 2 --vocab bytes"),
                       &out),
            0)
      << out;
  EXPECT_NE(RunCommand(absl::StrCat(BinDir(), "/rwkv generate -m ", other, " -p hi --state ",
                                    DataPath("tiny-rwkv6-r/tiny-rwkv6-r-state.session-v9.bin")),
                       &out),
            0);
  EXPECT_NE(out.find("tiny-rwkv6-r-state.session-v9.bin"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

}  // namespace
}  // namespace rwkv
