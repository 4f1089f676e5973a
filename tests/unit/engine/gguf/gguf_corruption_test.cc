// The reader rejects corrupted files with a message naming the problem, never crashing or
// allocating what the file cannot justify.
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rwkv/engine/gguf.h"
#include "support/test_paths.h"

namespace rwkv::engine {
namespace {

using Bytes = std::vector<uint8_t>;

template <typename T>
void Poke(Bytes& b, size_t at, T v) {
  ASSERT_LE(at + sizeof(T), b.size());
  std::memcpy(b.data() + at, &v, sizeof(T));
}

// Offset of the first byte after the string `needle` preceded by its u64 length.
size_t After(const Bytes& b, const std::string& needle) {
  for (size_t i = 8; i + needle.size() <= b.size(); ++i) {
    uint64_t len;
    std::memcpy(&len, b.data() + i - 8, 8);
    if (len == needle.size() && std::memcmp(b.data() + i, needle.data(), needle.size()) == 0) {
      return i + needle.size();
    }
  }
  ADD_FAILURE() << "not found: " << needle;
  return 0;
}

Bytes Synthetic() {
  GgufWriter w;
  w.AddKv("general.alignment", GgufValue::Uint32(32));
  w.AddKv("a.x", GgufValue::Uint32(1));
  w.AddKv("a.y", GgufValue::Uint32(2));
  w.AddKv("a.arr", GgufValue::Int32Array(std::vector<int32_t>{1, 2, 3}));
  auto zero = [](std::span<uint8_t> out) {
    std::fill(out.begin(), out.end(), 0);
    return absl::OkStatus();
  };
  EXPECT_TRUE(w.AddTensor("t1", GgmlType::kQ8_0, {32, 2}, zero).ok());
  EXPECT_TRUE(w.AddTensor("t2", GgmlType::kF32, {8}, zero).ok());
  auto bytes = w.WriteToBuffer();
  EXPECT_TRUE(bytes.ok());
  return *bytes;
}

struct Corruption {
  std::string name;
  std::function<void(Bytes&)> apply;
  std::string expected_message;
};

void ExpectRejected(const Bytes& base, const Corruption& c) {
  Bytes b = base;
  c.apply(b);
  auto file = GgufFile::Parse(b, "bad.gguf");
  ASSERT_FALSE(file.ok()) << c.name;
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
  EXPECT_THAT(std::string(file.status().message()), ::testing::StartsWith("bad.gguf: ")) << c.name;
  EXPECT_THAT(std::string(file.status().message()), ::testing::HasSubstr(c.expected_message))
      << c.name;
}

TEST(GgufCorruptionTest, SyntheticFileParsesBeforeCorruption) {
  auto file = GgufFile::Parse(Synthetic(), "ok.gguf");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->tensors().size(), 2u);
}

TEST(GgufCorruptionTest, RejectsCorruptedReferenceFile) {
  const std::string s =
      rwkv::testing::ReadFileOrDie(rwkv::testing::DataPath("tiny-rwkv6-r/tiny-rwkv6-r-f32.gguf"));
  const Bytes base(s.begin(), s.end());
  ASSERT_TRUE(GgufFile::Parse(base, "bad.gguf").ok());
  const size_t first_tensor = After(base, "token_embd.weight");
  const std::vector<Corruption> table = {
      {"magic", [](Bytes& b) { b[0] = 'X'; }, "bad magic"},
      {"version 1", [](Bytes& b) { Poke<uint32_t>(b, 4, 1); }, "unsupported GGUF version 1"},
      {"version 4", [](Bytes& b) { Poke<uint32_t>(b, 4, 4); }, "unsupported GGUF version 4"},
      {"huge tensor count", [](Bytes& b) { Poke<int64_t>(b, 8, int64_t{1} << 60); },
       "tensor count"},
      {"negative kv count", [](Bytes& b) { Poke<int64_t>(b, 16, -1); }, "metadata count"},
      {"huge kv count", [](Bytes& b) { Poke<int64_t>(b, 16, int64_t{1} << 40); }, "metadata count"},
      {"huge key length", [](Bytes& b) { Poke<uint64_t>(b, 24, uint64_t{1} << 62); },
       "exceeds the file size"},
      {"unknown value type", [](Bytes& b) { Poke<uint32_t>(b, 52, 99); }, "unknown value type 99"},
      {"huge string value", [](Bytes& b) { Poke<uint64_t>(b, 56, ~uint64_t{0}); },
       "exceeds the file size"},
      {"truncated header", [](Bytes& b) { b.resize(20); }, "truncated"},
      {"truncated metadata", [](Bytes& b) { b.resize(200); }, "truncated"},
      {"truncated data", [](Bytes& b) { b.resize(b.size() - 1000); }, "file is truncated"},
      {"tensor with retired type", [&](Bytes& b) { Poke<uint32_t>(b, first_tensor + 4 + 16, 4); },
       "unknown type id 4"},
      {"tensor with five dims", [&](Bytes& b) { Poke<uint32_t>(b, first_tensor, 5); },
       "dimensions"},
      {"tensor with misplaced offset",
       [&](Bytes& b) { Poke<uint64_t>(b, first_tensor + 4 + 16 + 4, 64); }, "has offset 64"},
  };
  for (const auto& c : table) ExpectRejected(base, c);
}

TEST(GgufCorruptionTest, RejectsStructuralErrors) {
  const Bytes base = Synthetic();
  const size_t t1 = After(base, "t1");
  const size_t t2 = After(base, "t2");
  const size_t arr = After(base, "a.arr");
  const size_t align = After(base, "general.alignment");
  const std::vector<Corruption> table = {
      {"duplicate key", [&](Bytes& b) { b[After(b, "a.y") - 1] = 'x'; }, "duplicate key a.x"},
      {"duplicate tensor", [&](Bytes& b) { b[t2 - 1] = '1'; }, "duplicate tensor t1"},
      {"row not divisible", [&](Bytes& b) { Poke<int64_t>(b, t1 + 4, 33); },
       "not a multiple of the block size"},
      {"negative dimension", [&](Bytes& b) { Poke<int64_t>(b, t1 + 4 + 8, -2); },
       "negative dimension"},
      {"size overflow",
       [&](Bytes& b) {
         Poke<int64_t>(b, t1 + 4, int64_t{1} << 40);
         Poke<int64_t>(b, t1 + 12, int64_t{1} << 40);
       },
       "overflows"},
      {"alignment not a power of two", [&](Bytes& b) { Poke<uint32_t>(b, align + 4, 24); },
       "not a power of two"},
      {"alignment of wrong type", [&](Bytes& b) { Poke<uint32_t>(b, align, 5); },
       "general.alignment must be uint32"},
      {"array of arrays", [&](Bytes& b) { Poke<uint32_t>(b, arr + 4, 9); }, "array of arrays"},
      {"huge array", [&](Bytes& b) { Poke<uint64_t>(b, arr + 8, uint64_t{1} << 61); },
       "more than the file can hold"},
      {"unknown array element type", [&](Bytes& b) { Poke<uint32_t>(b, arr + 4, 13); },
       "unknown array element type 13"},
      {"empty file", [](Bytes& b) { b.clear(); }, "too small"},
  };
  for (const auto& c : table) ExpectRejected(base, c);
}

TEST(GgufCorruptionTest, OpenNamesMissingFile) {
  auto file = GgufFile::Open("/nonexistent/model.gguf");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(file.status().message()),
              ::testing::HasSubstr("/nonexistent/model.gguf"));
}

}  // namespace
}  // namespace rwkv::engine
