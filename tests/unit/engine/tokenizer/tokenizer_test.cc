#include "rwkv/engine/tokenizer.h"

#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/world_vocab.h"

namespace rwkv::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::unique_ptr<Tokenizer> Make(std::vector<std::string> tokens, std::vector<int32_t> types = {}) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> t =
      Tokenizer::FromTokenBytes(std::move(tokens), std::move(types));
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *std::move(t) : nullptr;
}

// Longest match by brute force; ties (equal bytes) go to the highest id.
std::vector<int32_t> BruteForceEncode(const std::vector<std::string>& vocab, std::string_view s) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos < s.size()) {
    int32_t best = -1;
    size_t best_len = 0;
    for (size_t id = 0; id < vocab.size(); ++id) {
      const std::string& t = vocab[id];
      if (!t.empty() && t.size() >= best_len && s.substr(pos, t.size()) == t) {
        best = static_cast<int32_t>(id);
        best_len = t.size();
      }
    }
    if (best < 0) {
      ++pos;
      continue;
    }
    ids.push_back(best);
    pos += best_len;
  }
  return ids;
}

TEST(TokenizerTest, EncodesGreedyLongestMatch) {
  auto tok = Make({"a", "b", "c", "d", "ab", "abc", "bcd"});
  EXPECT_THAT(tok->Encode("abcd"), ElementsAre(5, 3));  // "abc" wins over "a" + "bcd"
  EXPECT_THAT(tok->Encode("abd"), ElementsAre(4, 3));
  EXPECT_THAT(tok->Encode("bcda"), ElementsAre(6, 0));
  EXPECT_THAT(tok->Encode(""), IsEmpty());
}

TEST(TokenizerTest, DuplicateBytesResolveToHighestId) {
  auto tok = Make({"x", "ab", "a", "b", "ab"});
  EXPECT_THAT(tok->Encode("abab"), ElementsAre(4, 4));
}

TEST(TokenizerTest, SkipsBytesThatStartNoToken) {
  auto tok = Make({"ab", ""});
  EXPECT_FALSE(tok->covers_all_bytes());
  EXPECT_THAT(tok->Encode("xab"), ElementsAre(0));
  EXPECT_THAT(tok->Encode("a"), IsEmpty());  // "a" is only a prefix of a token
  EXPECT_THAT(tok->Encode("aab"), ElementsAre(0));
}

TEST(TokenizerTest, ByteVocabularyMapsEachByteToItsId) {
  std::vector<std::string> bytes;
  std::string all;
  for (int i = 0; i < 256; ++i) {
    bytes.emplace_back(1, static_cast<char>(i));
    all.push_back(static_cast<char>(i));
  }
  auto tok = Make(bytes);
  EXPECT_TRUE(tok->covers_all_bytes());
  std::vector<int32_t> ids = tok->Encode(all + all);
  ASSERT_EQ(ids.size(), 512u);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], static_cast<int32_t>(i % 256));
  absl::StatusOr<std::string> back = tok->Decode(ids);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, all + all);
}

TEST(TokenizerTest, MatchesBruteForceOnRandomVocabularies) {
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::string> vocab;
    for (int i = 0; i < 256; ++i) vocab.emplace_back(1, static_cast<char>(i));
    const int extra = 50 + static_cast<int>(rng() % 400);
    for (int i = 0; i < extra; ++i) {
      std::string t;
      const size_t len = 1 + rng() % 8;
      for (size_t k = 0; k < len; ++k) t.push_back(static_cast<char>("abcd\xff\x00"[rng() % 6]));
      vocab.push_back(t);
    }
    std::shuffle(vocab.begin(), vocab.end(), rng);
    auto tok = Make(vocab);
    for (int s = 0; s < 20; ++s) {
      std::string text;
      const size_t len = rng() % 64;
      for (size_t k = 0; k < len; ++k)
        text.push_back(static_cast<char>("abcd\xff\x00z"[rng() % 7]));
      ASSERT_EQ(tok->Encode(text), BruteForceEncode(vocab, text)) << round << " " << s;
      absl::StatusOr<std::string> back = tok->Decode(tok->Encode(text));
      ASSERT_TRUE(back.ok());
      EXPECT_EQ(*back, text);
    }
  }
}

TEST(TokenizerTest, DecodeSkipsControlAndUnknownTokens) {
  auto tok = Make({"<s>", "a", "?", "[PAD3]", "b"}, {3, 1, 2, 5, 4});
  absl::StatusOr<std::string> s = tok->Decode(std::vector<int32_t>{0, 1, 2, 3, 4, 0});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "a[PAD3]b");
  EXPECT_EQ(tok->token_type(0), TokenType::kControl);
  EXPECT_EQ(tok->TokenBytes(3), "[PAD3]");
  EXPECT_EQ(tok->Piece(0), "");
  EXPECT_EQ(tok->Piece(2), "");
  EXPECT_EQ(tok->Piece(3), "[PAD3]");
  // Control tokens still take part in encoding, as in llama.cpp.
  EXPECT_THAT(tok->Encode("<s>a"), ElementsAre(0, 1));
}

TEST(TokenizerTest, DecodeRejectsIdsOutsideTheVocabulary) {
  auto tok = Make({"a", "b"});
  for (int32_t bad : {-1, 2, 1 << 30}) {
    absl::StatusOr<std::string> s = tok->Decode(std::vector<int32_t>{0, bad});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("token id " + std::to_string(bad)));
  }
}

TEST(TokenizerTest, FromTokenBytesRejectsBadInput) {
  EXPECT_FALSE(Tokenizer::FromTokenBytes({}).ok());
  EXPECT_FALSE(Tokenizer::FromTokenBytes({"a", "b"}, {1}).ok());
}

// An in-memory GGUF holding only tokenizer metadata.
class GgufTokenizerTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const GgufWriter& writer) {
    absl::StatusOr<std::vector<uint8_t>> bytes = writer.WriteToBuffer();
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    image_ = *std::move(bytes);
    absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Parse(image_, "mem.gguf");
    EXPECT_TRUE(file.ok()) << file.status();
    file_ = *std::move(file);
    return Tokenizer::FromGguf(*file_);
  }

  static GgufWriter WorldLike(size_t n, bool with_eot) {
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    for (size_t i = 0; i < n; ++i) {
      tokens.push_back(i == 261 ? "\\n\\n" : i == 0 ? "<s>" : "t" + std::to_string(i));
      types.push_back(i == 0 ? 3 : 1);
    }
    GgufWriter w;
    w.AddKv("tokenizer.ggml.model", GgufValue::String("rwkv"));
    w.AddKv("tokenizer.ggml.tokens", GgufValue::StringArray(tokens));
    w.AddKv("tokenizer.ggml.token_type", GgufValue::Int32Array(types));
    w.AddKv("tokenizer.ggml.eos_token_id", GgufValue::Uint32(0));
    if (with_eot) w.AddKv("tokenizer.ggml.eot_token_id", GgufValue::Uint32(7));
    return w;
  }

  std::vector<uint8_t> image_;
  std::unique_ptr<GgufFile> file_;
};

TEST_F(GgufTokenizerTest, ReadsTokensTypesAndSpecialIds) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Load(WorldLike(300, true));
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->vocab_size(), 300);
  EXPECT_EQ((*tok)->TokenBytes(261), "\n\n");
  EXPECT_EQ((*tok)->token_type(0), TokenType::kControl);
  EXPECT_EQ((*tok)->eos_id(), 0);
  EXPECT_EQ((*tok)->eot_id(), 7);
  EXPECT_EQ((*tok)->bos_id(), -1);
  EXPECT_TRUE((*tok)->IsEndOfGeneration(7));
  EXPECT_FALSE((*tok)->IsEndOfGeneration(261));
}

TEST_F(GgufTokenizerTest, DefaultsEotTo261OnlyForWorldSizedVocabularies) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> world = Load(WorldLike(65536, false));
  ASSERT_TRUE(world.ok()) << world.status();
  EXPECT_EQ((*world)->eot_id(), 261);
  absl::StatusOr<std::unique_ptr<Tokenizer>> small = Load(WorldLike(300, false));
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ((*small)->eot_id(), -1);
}

TEST_F(GgufTokenizerTest, IgnoresSpecialIdsOutsideTheVocabulary) {
  GgufWriter w = WorldLike(10, false);
  w.AddKv("tokenizer.ggml.bos_token_id", GgufValue::Uint32(10));
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Load(w);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->bos_id(), -1);
}

TEST_F(GgufTokenizerTest, RejectsBadTokenizerMetadata) {
  const std::vector<std::string> tokens = {"a", "b"};
  struct Case {
    std::vector<GgufKv> kvs;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{}, "tokenizer.ggml.model"},
      {{{"tokenizer.ggml.model", GgufValue::String("gpt2")}}, "only 'rwkv'"},
      {{{"tokenizer.ggml.model", GgufValue::String("rwkv")}}, "tokenizer.ggml.tokens"},
      {{{"tokenizer.ggml.model", GgufValue::String("rwkv")},
        {"tokenizer.ggml.tokens", GgufValue::StringArray({})}},
       "tokenizer.ggml.tokens is empty"},
      {{{"tokenizer.ggml.model", GgufValue::String("rwkv")},
        {"tokenizer.ggml.tokens", GgufValue::StringArray(tokens)},
        {"tokenizer.ggml.token_type", GgufValue::Int32Array(std::vector<int32_t>{1})}},
       "has 1 entries for 2 tokens"},
      {{{"tokenizer.ggml.model", GgufValue::String("rwkv")},
        {"tokenizer.ggml.tokens", GgufValue::StringArray(tokens)},
        {"tokenizer.ggml.token_type", GgufValue::StringArray(tokens)}},
       "not an integer array"},
      {{{"tokenizer.ggml.model", GgufValue::String("rwkv")},
        {"tokenizer.ggml.tokens", GgufValue::StringArray(tokens)},
        {"tokenizer.ggml.eos_token_id", GgufValue::Int32(0)}},
       "tokenizer.ggml.eos_token_id"},
  };
  for (const Case& c : cases) {
    GgufWriter w;
    for (const GgufKv& kv : c.kvs) w.AddKv(kv.key, kv.value);
    absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Load(w);
    ASSERT_FALSE(tok.ok()) << c.expect;
    EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument) << tok.status();
    EXPECT_THAT(std::string(tok.status().message()), HasSubstr(c.expect));
    EXPECT_THAT(std::string(tok.status().message()), HasSubstr("mem.gguf"));
  }
}

}  // namespace
}  // namespace rwkv::engine
