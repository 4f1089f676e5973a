#include "rwkv/engine/state_file.h"

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/test_paths.h"

namespace rwkv::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

RecurrentState PatternState(StateShape shape) {
  RecurrentState s = RecurrentState::Zero(shape);
  for (size_t i = 0; i < s.shift.size(); ++i) s.shift[i] = 0.25f * static_cast<float>(i) - 3.0f;
  for (size_t i = 0; i < s.wkv.size(); ++i) s.wkv[i] = 1.0f / (1.0f + static_cast<float>(i));
  return s;
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  const std::string s = rwkv::testing::ReadFileOrDie(path);
  return {s.begin(), s.end()};
}

std::string Ref(const std::string& rel) { return rwkv::testing::DataPath(rel); }

TEST(StateFileTest, ReadsTutorialConverterFiles) {
  for (const auto& [rel, layers, embd, head] : std::vector<std::tuple<std::string, int, int, int>>{
           {"tiny-rwkv6/tiny-rwkv6-state.session-v9.bin", 3, 128, 64},
           {"tiny-rwkv6-r/tiny-rwkv6-r-state.session-v9.bin", 4, 64, 32}}) {
    if (!std::filesystem::exists(Ref(rel))) GTEST_SKIP() << "reference data missing";
    auto f = ReadStateFile(Ref(rel));
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(f->layout, StateFileLayout::kWithOutputs);
    EXPECT_TRUE(f->tokens.empty());
    EXPECT_TRUE(f->logits.empty());
    EXPECT_EQ(f->pos, 0);
    EXPECT_FALSE(f->has_seq_id);
    EXPECT_EQ(f->state.shape,
              (StateShape{static_cast<uint32_t>(layers), static_cast<uint32_t>(embd),
                          static_cast<uint32_t>(head)}));
    for (float v : f->state.shift) ASSERT_EQ(v, 0.0f);
    size_t nonzero = 0;
    for (float v : f->state.wkv) nonzero += v != 0.0f;
    EXPECT_GT(nonzero, f->state.wkv.size() / 2);
  }
}

TEST(StateFileTest, ReadsLlamaCppSessionWithTokensAndLogits) {
  const std::string path = Ref("tiny-rwkv6/tiny-rwkv6-after-chat.session-v9.bin");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "reference data missing";
  auto f = ReadStateFile(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->layout, StateFileLayout::kWithOutputs);
  EXPECT_THAT(f->tokens,
              ElementsAre(24281, 59, 30031, 460, 44905, 55038, 64, 261, 5585, 41693, 59));
  EXPECT_THAT(f->output_ids, ElementsAre(10));
  EXPECT_EQ(f->logits.size(), 65536u);
  EXPECT_EQ(f->n_vocab(), 65536u);
  EXPECT_EQ(f->pos, 10);
  EXPECT_TRUE(f->has_seq_id);
  EXPECT_EQ(f->seq_id, 0);
  EXPECT_EQ(f->state.shape, (StateShape{3, 128, 64}));
  float max_abs = 0;
  for (float v : f->logits) max_abs = std::max(max_abs, std::abs(v));
  EXPECT_GT(max_abs, 1.0f);
  EXPECT_LT(max_abs, 30.0f);
}

TEST(StateFileTest, ReencodesReferenceFilesByteForByte) {
  for (const std::string rel : {"tiny-rwkv6/tiny-rwkv6-state.session-v9.bin",
                                "tiny-rwkv6/tiny-rwkv6-after-chat.session-v9.bin",
                                "tiny-rwkv6-r/tiny-rwkv6-r-state.session-v9.bin"}) {
    if (!std::filesystem::exists(Ref(rel))) GTEST_SKIP() << "reference data missing";
    const std::vector<uint8_t> original = ReadBytes(Ref(rel));
    auto f = ParseStateFile(original, rel);
    ASSERT_TRUE(f.ok()) << f.status();
    auto again = EncodeStateFile(*f, f->layout);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_TRUE(*again == original) << rel;
  }
}

TEST(StateFileTest, ConvertsReferenceSessionToMemoryOnlyLayout) {
  const std::string path = Ref("tiny-rwkv6/tiny-rwkv6-after-chat.session-v9.bin");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "reference data missing";
  auto f = ReadStateFile(path);
  ASSERT_TRUE(f.ok()) << f.status();
  auto bytes = EncodeStateFile(*f, StateFileLayout::kMemoryOnly);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size(), 363705u - 4 - 4 - 4 * 65536 - 8 - 8);
  auto g = ParseStateFile(*bytes, "memory-only");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->layout, StateFileLayout::kMemoryOnly);
  EXPECT_EQ(g->tokens, f->tokens);
  EXPECT_TRUE(g->logits.empty());
  EXPECT_EQ(g->pos, 10);
  EXPECT_EQ(g->state.shift, f->state.shift);
  EXPECT_EQ(g->state.wkv, f->state.wkv);
}

TEST(StateFileTest, RoundTripsBothLayoutsThroughDisk) {
  const std::string dir = rwkv::testing::MakeTempDir("state_file");
  const StateShape shape{2, 8, 4};
  for (StateFileLayout layout : {StateFileLayout::kWithOutputs, StateFileLayout::kMemoryOnly}) {
    for (bool session : {false, true}) {
      StateFile f = session
                        ? SessionStateFile({5, 6, 7}, {0.5f, -1.5f, 2.0f}, 2, PatternState(shape))
                        : InitialStateFile(PatternState(shape));
      const std::string path = dir + "/s.bin";
      ASSERT_TRUE(WriteStateFile(path, f, layout).ok());
      auto g = ReadStateFile(path);
      ASSERT_TRUE(g.ok()) << g.status();
      EXPECT_EQ(g->layout, layout);
      EXPECT_EQ(g->tokens, f.tokens);
      EXPECT_EQ(g->pos, f.pos);
      EXPECT_EQ(g->has_seq_id, f.has_seq_id);
      EXPECT_EQ(g->state.shape, shape);
      EXPECT_EQ(g->state.shift, f.state.shift);
      EXPECT_EQ(g->state.wkv, f.state.wkv);
      if (layout == StateFileLayout::kWithOutputs) {
        EXPECT_EQ(g->logits, f.logits);
        EXPECT_EQ(g->output_ids, f.output_ids);
      }
    }
  }
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    left.push_back(e.path().filename());
  EXPECT_THAT(left, ElementsAre("s.bin"));
}

TEST(StateFileTest, TutorialLayoutHasTheDocumentedSize) {
  auto bytes =
      EncodeStateFile(InitialStateFile(PatternState({3, 128, 64})), StateFileLayout::kWithOutputs);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size(), 61u + 3 * (12 + 8 * 128) + 3 * (12 + 4 * 128 * 64));
  EXPECT_EQ(bytes->size(), 101509u);
}

// Small tutorial-layout file: L=2, C=8, S=4, no tokens. Field offsets below refer to it.
std::vector<uint8_t> SmallFile() {
  return *EncodeStateFile(InitialStateFile(PatternState({2, 8, 4})), StateFileLayout::kWithOutputs);
}

template <typename T>
std::vector<uint8_t> Patched(size_t offset, T value) {
  std::vector<uint8_t> b = SmallFile();
  std::memcpy(b.data() + offset, &value, sizeof(T));
  return b;
}

TEST(StateFileTest, RejectsCorruptedFiles) {
  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
    std::string message;
  };
  std::vector<uint8_t> trailing = SmallFile();
  trailing.push_back(0);
  std::vector<uint8_t> arch = SmallFile();
  arch[20] = '7';
  const size_t k1_type = 61 + 12 + 64;  // second layer's token-shift header
  const std::vector<Case> cases = {
      {"BadMagic", Patched<uint32_t>(0, 0x67677371), "not a llama.cpp session file"},
      {"OldVersion", Patched<uint32_t>(4, 8), "unsupported session version 8"},
      {"HugeTokenCount", Patched<uint32_t>(8, 0xFFFFFFFF), "tokens needs"},
      {"WrongArch", arch, "not rwkv6"},
      {"HugeArchLength", Patched<uint32_t>(12, 0x7FFFFFFF), "bad arch string length"},
      {"HugeLogits", Patched<uint64_t>(25, 1ull << 60), "logits size"},
      {"TwoCells", Patched<uint32_t>(41, 2), "2 memory cells"},
      {"ThreeSeqIds", Patched<uint32_t>(49, 3), "belongs to 3 sequences"},
      {"VTrans", Patched<uint32_t>(53, 1), "v_trans is 1"},
      {"NoLayers", Patched<uint32_t>(57, 0), "bad layer count 0"},
      {"F16Rows", Patched<int32_t>(61, 1), "ggml type 1"},
      {"UnequalRows", Patched<uint64_t>(k1_type + 4, 32), "row size of layer 1 is 32"},
      {"TrailingByte", trailing, "1 trailing bytes"},
  };
  for (const Case& c : cases) {
    auto f = ParseStateFile(c.bytes, "bad.bin");
    ASSERT_FALSE(f.ok()) << c.name;
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(f.status().message(), HasSubstr(c.message)) << c.name;
    EXPECT_THAT(f.status().message(), HasSubstr("bad.bin")) << c.name;
  }
}

TEST(StateFileTest, EveryTruncationIsRejected) {
  const std::vector<uint8_t> good = SmallFile();
  ASSERT_TRUE(ParseStateFile(good, "x").ok());
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + n);
    EXPECT_FALSE(ParseStateFile(cut, "x").ok()) << n;
  }
}

TEST(StateFileTest, AcceptsCellOwnedBySequenceZero) {
  StateFile f = InitialStateFile(PatternState({1, 4, 2}));
  f.has_seq_id = true;
  auto bytes = EncodeStateFile(f, StateFileLayout::kWithOutputs);
  ASSERT_TRUE(bytes.ok());
  auto g = ParseStateFile(*bytes, "x");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(g->has_seq_id);
  EXPECT_EQ(g->seq_id, 0);
}

TEST(StateFileTest, EncodeRejectsInconsistentContents) {
  StateFile f = InitialStateFile(PatternState({2, 8, 4}));
  f.state.wkv.pop_back();
  EXPECT_THAT(EncodeStateFile(f, StateFileLayout::kWithOutputs).status().message(),
              HasSubstr("wkv floats"));
  StateFile g = SessionStateFile({1}, {1, 2, 3}, 0, PatternState({2, 8, 4}));
  g.output_ids = {0, 1};
  EXPECT_THAT(EncodeStateFile(g, StateFileLayout::kWithOutputs).status().message(),
              HasSubstr("whole number of rows"));
  StateFile h = InitialStateFile(PatternState({2, 8, 3}));
  EXPECT_FALSE(EncodeStateFile(h, StateFileLayout::kWithOutputs).ok());
}

TEST(StateFileTest, FailedWriteLeavesNoFile) {
  const std::string dir = rwkv::testing::MakeTempDir("state_file_fail");
  StateFile f = InitialStateFile(PatternState({2, 8, 4}));
  f.state.shift.clear();
  const std::string path = dir + "/out.bin";
  EXPECT_FALSE(WriteStateFile(path, f).ok());
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  EXPECT_FALSE(
      WriteStateFile(dir + "/missing/out.bin", InitialStateFile(PatternState({1, 4, 2}))).ok());
}

TEST(StateFileTest, ReadReportsMissingFile) {
  EXPECT_EQ(ReadStateFile("/nonexistent/x.bin").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace rwkv::engine
