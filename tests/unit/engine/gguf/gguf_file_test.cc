#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rwkv/engine/gguf.h"
#include "support/test_paths.h"

namespace rwkv::engine {
namespace {

using ::testing::HasSubstr;

// The llama.cpp-written GGUFs at hand: the byte-vocabulary model's are shipped in tests/data,
// the World-vocabulary model's come with the reference set.
std::vector<std::string> ReferenceGgufs() {
  std::vector<std::string> present;
  for (const char* rel : {"tiny-rwkv6/tiny-rwkv6-f16.gguf", "tiny-rwkv6/tiny-rwkv6-q8_0.gguf",
                          "tiny-rwkv6/tiny-rwkv6-q5_1.gguf", "tiny-rwkv6-r/tiny-rwkv6-r-f32.gguf",
                          "tiny-rwkv6-r/tiny-rwkv6-r-f16.gguf"}) {
    if (std::filesystem::exists(rwkv::testing::DataPath(rel))) present.push_back(rel);
  }
  EXPECT_GE(present.size(), 2u) << "the tests/data GGUF fixtures are missing";
  return present;
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  const std::string s = rwkv::testing::ReadFileOrDie(path);
  return std::vector<uint8_t>(s.begin(), s.end());
}

TEST(GgufFileTest, AcceptsEveryReferenceFile) {
  for (const auto& rel : ReferenceGgufs()) {
    const std::string path = rwkv::testing::DataPath(rel);
    auto file = GgufFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_EQ((*file)->version(), 3u);
    EXPECT_EQ((*file)->alignment(), 32u);
    auto arch = (*file)->GetString("general.architecture");
    ASSERT_TRUE(arch.ok()) << arch.status();
    EXPECT_EQ(*arch, "rwkv6");
    EXPECT_TRUE((*file)->GetUint32("rwkv6.embedding_length").ok());
    EXPECT_NE((*file)->FindTensor("token_embd.weight"), nullptr) << rel;
    EXPECT_NE((*file)->FindTensor("output.weight"), nullptr) << rel;
  }
}

TEST(GgufFileTest, ReportsReferenceShapesInGgmlOrder) {
  RWKV_SKIP_WITHOUT_DATA(rwkv::testing::DataPath("tiny-rwkv6/tiny-rwkv6-f16.gguf"));
  auto file = GgufFile::Open(rwkv::testing::DataPath("tiny-rwkv6/tiny-rwkv6-f16.gguf"));
  ASSERT_TRUE(file.ok()) << file.status();
  const GgufTensorInfo* emb = (*file)->FindTensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->ne[0], 128);
  EXPECT_EQ(emb->ne[1], 65536);
  EXPECT_EQ(emb->type, GgmlType::kF16);
  const GgufTensorInfo* fused = (*file)->FindTensor("blk.0.time_mix_lerp_fused.weight");
  ASSERT_NE(fused, nullptr);
  EXPECT_EQ(fused->n_dims, 4u);
  EXPECT_EQ(fused->ne[3], 5);
  EXPECT_EQ(fused->effective_dims(), 4u);
  auto tokens = (*file)->GetStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ((*tokens)->size(), 65536u);
  EXPECT_EQ((**tokens)[0], "<s>");
}

TEST(GgufFileTest, MetadataLookupsAreTypeStrict) {
  auto file = GgufFile::Open(rwkv::testing::DataPath("tiny-rwkv6-r/tiny-rwkv6-r-f16.gguf"));
  ASSERT_TRUE(file.ok());
  auto wrong = (*file)->GetFloat32("rwkv6.block_count");
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wrong.status().message()), HasSubstr("wrong type uint32"));
  EXPECT_EQ((*file)->GetUint32("rwkv6.no_such_key").status().code(), absl::StatusCode::kNotFound);
}

TEST(GgufFileTest, WriterReproducesEveryReferenceFileByteForByte) {
  for (const auto& rel : ReferenceGgufs()) {
    const std::string path = rwkv::testing::DataPath(rel);
    auto file = GgufFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    GgufWriter writer;
    ASSERT_TRUE(writer.AddAllFrom(**file).ok());
    auto bytes = writer.WriteToBuffer();
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    const std::vector<uint8_t> original = ReadBytes(path);
    ASSERT_EQ(bytes->size(), original.size()) << rel;
    EXPECT_TRUE(*bytes == original) << rel;
  }
}

TEST(GgufFileTest, WriteFileIsAtomicAndRereadable) {
  const std::string dir = rwkv::testing::MakeTempDir("gguf-write");
  GgufWriter writer;
  writer.AddKv("general.architecture", GgufValue::String("rwkv6"));
  writer.AddKv("test.u8", GgufValue::Uint8(7));
  writer.AddKv("test.i16", GgufValue::Int16(-3));
  writer.AddKv("test.f64", GgufValue::Float64(2.5));
  writer.AddKv("test.bool", GgufValue::Bool(true));
  writer.AddKv("test.i64", GgufValue::Int64(-1234567890123));
  writer.AddKv("test.floats", GgufValue::Float32Array(std::vector<float>{1.5f, -2.0f}));
  std::vector<float> data(64 * 3);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i);
  ASSERT_TRUE(writer
                  .AddTensor("w", GgmlType::kF32, {64, 3},
                             [&](std::span<uint8_t> out) {
                               std::memcpy(out.data(), data.data(), out.size());
                               return absl::OkStatus();
                             })
                  .ok());
  const std::string path = dir + "/m.gguf";
  ASSERT_TRUE(writer.WriteFile(path).ok());
  auto file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->FindKv("test.u8")->AsUint32(), 7u);
  EXPECT_EQ(static_cast<int16_t>((*file)->FindKv("test.i16")->bits()), -3);
  EXPECT_EQ((*file)->FindKv("test.f64")->AsFloat64(), 2.5);
  EXPECT_TRUE((*file)->FindKv("test.bool")->AsBool());
  EXPECT_EQ(static_cast<int64_t>((*file)->FindKv("test.i64")->bits()), -1234567890123);
  EXPECT_EQ((*file)->FindKv("test.floats")->array_size(), 2u);
  const GgufTensorInfo* w = (*file)->FindTensor("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(std::memcmp(w->data, data.data(), data.size() * 4), 0);
  // Only the final file remains: no temporary files beside it.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(GgufFileTest, FailedWriteLeavesNothingBehind) {
  const std::string dir = rwkv::testing::MakeTempDir("gguf-fail");
  GgufWriter writer;
  ASSERT_TRUE(writer
                  .AddTensor("w", GgmlType::kF32, {32},
                             [](std::span<uint8_t>) { return absl::CancelledError("stop"); })
                  .ok());
  EXPECT_FALSE(writer.WriteFile(dir + "/m.gguf").ok());
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

TEST(GgufFileTest, WriterRejectsBadTensors) {
  GgufWriter writer;
  auto noop = [](std::span<uint8_t>) { return absl::OkStatus(); };
  EXPECT_FALSE(writer.AddTensor("q", GgmlType::kQ8_0, {33}, noop).ok());
  EXPECT_FALSE(writer.AddTensor(std::string(64, 'x'), GgmlType::kF32, {1}, noop).ok());
  EXPECT_TRUE(writer.AddTensor("a", GgmlType::kF32, {1}, noop).ok());
  EXPECT_FALSE(writer.AddTensor("a", GgmlType::kF32, {1}, noop).ok());
}

}  // namespace
}  // namespace rwkv::engine
