#include "rwkv/engine/synth.h"

#include <atomic>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rwkv/engine/fp16.h"
#include "rwkv/engine/gguf.h"
#include "support/test_paths.h"
#include "synth/synth_metadata.h"

namespace rwkv::engine {
namespace {

SynthOptions Small(const std::string& path) {
  SynthOptions o;
  o.output_path = path;
  o.n_embd = 64;
  o.head_size = 32;
  o.n_layer = 2;
  o.seed = 7;
  o.threads = 2;
  return o;
}

std::unique_ptr<GgufFile> OpenOrDie(const std::string& path) {
  auto file = GgufFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status();
  return file.ok() ? *std::move(file) : nullptr;
}

std::vector<float> ReadFloats(const GgufTensorInfo& t) {
  std::vector<float> out(t.n_elements());
  for (int64_t i = 0; i < t.n_elements(); ++i) {
    if (t.type == GgmlType::kF32) {
      std::memcpy(&out[i], t.data + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      out[i] = Fp16ToFp32(h);
    }
  }
  return out;
}

double StdDev(const std::vector<float>& v) {
  double sum = 0, sq = 0;
  for (float x : v) {
    sum += x;
    sq += double{x} * x;
  }
  const double mean = sum / v.size();
  return std::sqrt(sq / v.size() - mean * mean);
}

// Everything but the informational name must match the converter's file for the same shape.
void ExpectSameLayout(const GgufFile& ours, const GgufFile& ref) {
  ASSERT_EQ(ours.kvs().size(), ref.kvs().size());
  for (size_t i = 0; i < ref.kvs().size(); ++i) {
    const GgufKv& a = ours.kvs()[i];
    const GgufKv& b = ref.kvs()[i];
    EXPECT_EQ(a.key, b.key) << i;
    EXPECT_EQ(a.value.type(), b.value.type()) << b.key;
    if (b.key != "general.name") {
      EXPECT_TRUE(a.value == b.value) << b.key;
    }
  }
  ASSERT_EQ(ours.tensors().size(), ref.tensors().size());
  for (size_t i = 0; i < ref.tensors().size(); ++i) {
    const GgufTensorInfo& a = ours.tensors()[i];
    const GgufTensorInfo& b = ref.tensors()[i];
    EXPECT_EQ(a.name, b.name) << i;
    EXPECT_EQ(a.n_dims, b.n_dims) << b.name;
    EXPECT_EQ(a.ne, b.ne) << b.name;
    EXPECT_EQ(a.type, b.type) << b.name;
    EXPECT_EQ(a.offset, b.offset) << b.name;
  }
  EXPECT_EQ(ours.data_offset(), ref.data_offset());
  EXPECT_EQ(ours.file_size(), ref.file_size());
}

TEST(SynthTest, WritesByteVocabModelThatReopens) {
  const std::string path = testing::MakeTempDir("synth") + "/m.gguf";
  auto result = WriteSyntheticModel(Small(path));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->tensor_count, 6u + 24u * 2u);
  EXPECT_EQ(result->shape.n_ffn, 224);
  auto file = OpenOrDie(path);
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(*file->GetString("general.architecture"), "rwkv6");
  EXPECT_EQ(*file->GetUint32("rwkv6.context_length"), 1048576u);
  EXPECT_EQ(*file->GetUint32("rwkv6.embedding_length"), 64u);
  EXPECT_EQ(*file->GetUint32("rwkv6.block_count"), 2u);
  EXPECT_EQ(*file->GetFloat32("rwkv6.attention.layer_norm_epsilon"), 1e-5f);
  EXPECT_EQ(*file->GetUint32("rwkv6.wkv.head_size"), 32u);
  EXPECT_EQ(*file->GetUint32("rwkv6.time_mix_extra_dim"), 32u);
  EXPECT_EQ(*file->GetUint32("rwkv6.time_decay_extra_dim"), 64u);
  EXPECT_EQ(*file->GetUint32("rwkv6.feed_forward_length"), 224u);
  EXPECT_EQ(*file->GetUint32("general.file_type"), 1u);
  EXPECT_EQ(*file->GetUint32("rwkv6.attention.head_count"), 0u);
  EXPECT_EQ(*file->GetUint32("general.quantization_version"), 2u);
  EXPECT_EQ(*file->GetString("tokenizer.ggml.model"), "rwkv");
  EXPECT_EQ(file->FindKv("tokenizer.ggml.eot_token_id"), nullptr);
  const std::vector<std::string>* tokens = *file->GetStringArray("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens->size(), 256u);
  EXPECT_EQ((*tokens)[0], "\\x00");
  EXPECT_EQ((*tokens)['A'], "A");
  EXPECT_EQ((*tokens)['\\'], "\\\\");
  EXPECT_EQ((*tokens)[0xff], "\\xff");

  const GgufTensorInfo* w2 = file->FindTensor("blk.1.time_mix_w2.weight");
  ASSERT_NE(w2, nullptr);
  EXPECT_EQ(w2->n_dims, 3u);
  EXPECT_EQ(w2->ne, (std::array<int64_t, 4>{32, 64, 5, 1}));
  EXPECT_EQ(w2->type, GgmlType::kF32);
  const GgufTensorInfo* fused = file->FindTensor("blk.0.time_mix_lerp_fused.weight");
  ASSERT_NE(fused, nullptr);
  EXPECT_EQ(fused->n_dims, 4u);
  EXPECT_EQ(fused->ne, (std::array<int64_t, 4>{64, 1, 1, 5}));
  const GgufTensorInfo* first = file->FindTensor("blk.0.time_mix_first.weight");
  EXPECT_EQ(first->ne, (std::array<int64_t, 4>{32, 2, 1, 1}));
  EXPECT_EQ(file->FindTensor("output.weight")->type, GgmlType::kF16);
  EXPECT_EQ(file->FindTensor("blk.1.channel_mix_value.weight")->ne,
            (std::array<int64_t, 4>{224, 64, 1, 1}));
  for (const GgufTensorInfo& t : file->tensors()) {
    const bool projection = t.name.find("token_embd.weight") != std::string::npos ||
                            t.name == "output.weight" ||
                            (t.n_dims == 2 && t.name.find("_w1") == std::string::npos &&
                             t.name.find("_w2") == std::string::npos &&
                             t.name.find("time_mix_first") == std::string::npos);
    EXPECT_EQ(t.type, projection ? GgmlType::kF16 : GgmlType::kF32) << t.name;
  }
}

TEST(SynthTest, ValuesAreHealthy) {
  const std::string path = testing::MakeTempDir("synth") + "/m.gguf";
  SynthOptions o = Small(path);
  o.n_embd = 256;
  o.head_size = 64;
  o.rescale_every = 1;
  ASSERT_TRUE(WriteSyntheticModel(o).ok());
  auto file = OpenOrDie(path);
  ASSERT_NE(file, nullptr);
  for (const GgufTensorInfo& t : file->tensors()) {
    for (float v : ReadFloats(t)) {
      ASSERT_TRUE(std::isfinite(v)) << t.name;
      ASSERT_TRUE(v == 0.0f || std::fabs(v) >= 1e-30f) << t.name;
    }
  }
  for (float v : ReadFloats(*file->FindTensor("blk.1.time_mix_lerp_fused.weight"))) {
    EXPECT_GE(v, 0.0f);
    EXPECT_LE(v, 1.0f);
  }
  for (float v : ReadFloats(*file->FindTensor("blk.0.time_mix_decay.weight"))) {
    EXPECT_GE(v, -6.5f);
    EXPECT_LE(v, -0.5f);
  }
  EXPECT_NEAR(StdDev(ReadFloats(*file->FindTensor("token_embd.weight"))), 0.5, 0.05);
  const double out0 = StdDev(ReadFloats(*file->FindTensor("blk.0.time_mix_output.weight")));
  const double out1 = StdDev(ReadFloats(*file->FindTensor("blk.1.time_mix_output.weight")));
  EXPECT_NEAR(out0, 0.06 * std::sqrt(128.0 / 256.0), 0.005);
  EXPECT_NEAR(out1 * 2, out0, 0.005);  // rescale_every 1: layer 1 stored halved
}

TEST(SynthTest, IsDeterministicForASeedWhateverTheThreads) {
  const std::string dir = testing::MakeTempDir("synth");
  SynthOptions o = Small(dir + "/a.gguf");
  o.threads = 1;
  ASSERT_TRUE(WriteSyntheticModel(o).ok());
  o.output_path = dir + "/b.gguf";
  o.threads = 4;
  ASSERT_TRUE(WriteSyntheticModel(o).ok());
  o.output_path = dir + "/c.gguf";
  o.seed = 8;
  ASSERT_TRUE(WriteSyntheticModel(o).ok());
  const std::string a = testing::ReadFileOrDie(dir + "/a.gguf");
  EXPECT_EQ(a, testing::ReadFileOrDie(dir + "/b.gguf"));
  const std::string c = testing::ReadFileOrDie(dir + "/c.gguf");
  EXPECT_EQ(a.size(), c.size());
  EXPECT_NE(a, c);
}

TEST(SynthTest, QuantizedTypeFallsBackToF16ForIndivisibleRows) {
  const std::string path = testing::MakeTempDir("synth") + "/q.gguf";
  SynthOptions o = Small(path);
  o.type = GgmlType::kQ8_0;
  o.n_ffn = 100;
  ASSERT_TRUE(WriteSyntheticModel(o).ok());
  auto file = OpenOrDie(path);
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(*file->GetUint32("general.file_type"), 7u);
  EXPECT_EQ(file->FindTensor("blk.0.channel_mix_key.weight")->type, GgmlType::kQ8_0);
  EXPECT_EQ(file->FindTensor("blk.0.channel_mix_value.weight")->type, GgmlType::kF16);
  EXPECT_EQ(file->FindTensor("output.weight")->type, GgmlType::kQ8_0);
}

TEST(SynthTest, RejectsBadOptions) {
  SynthOptions o = Small("/tmp/unused.gguf");
  o.n_embd = 96;
  o.head_size = 64;
  EXPECT_EQ(ResolveSynthShape(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = Small("/tmp/unused.gguf");
  o.type = GgmlType::kQ6_K;
  EXPECT_EQ(ResolveSynthShape(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = Small("/tmp/unused.gguf");
  o.rescale_every = -1;
  EXPECT_EQ(ResolveSynthShape(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = Small("");
  EXPECT_EQ(ResolveSynthShape(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = Small("/tmp/unused.gguf");
  o.n_layer = 0;
  EXPECT_EQ(ResolveSynthShape(o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SynthTest, DefaultsFollowTheWidth) {
  SynthOptions o = Small("/tmp/unused.gguf");
  o.n_embd = 4096;
  o.head_size = 64;
  auto shape = ResolveSynthShape(o);
  ASSERT_TRUE(shape.ok());
  EXPECT_EQ(shape->n_ffn, 14336);
  EXPECT_EQ(shape->mix_lora_rank, 64);
  EXPECT_EQ(shape->decay_lora_rank, 128);
  o.n_embd = 2048;
  shape = ResolveSynthShape(o);
  EXPECT_EQ(shape->n_ffn, 7168);
  EXPECT_EQ(shape->mix_lora_rank, 32);
  EXPECT_EQ(shape->decay_lora_rank, 64);
}

TEST(SynthTest, CancelLeavesNoFile) {
  const std::string path = testing::MakeTempDir("synth") + "/m.gguf";
  SynthOptions o = Small(path);
  std::atomic<bool> cancel{true};
  o.control.cancel = &cancel;
  EXPECT_EQ(WriteSyntheticModel(o).status().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(SynthTest, MissingVocabFileIsAnError) {
  SynthOptions o = Small(testing::MakeTempDir("synth") + "/m.gguf");
  o.vocab = "/nonexistent/vocab.txt";
  EXPECT_FALSE(WriteSyntheticModel(o).ok());
  EXPECT_FALSE(std::filesystem::exists(o.output_path));
}

TEST(SynthTest, SizeLabelsMatchGgufPy) {
  EXPECT_EQ(synth::SizeLabel(17'800'000), "18M");
  EXPECT_EQ(synth::SizeLabel(1'600'000'000), "1.6B");
  EXPECT_EQ(synth::SizeLabel(365'000), "365K");
  EXPECT_EQ(synth::SizeLabel(7'520'000'000), "7.5B");
}

TEST(SynthTest, ByteVocabLayoutMatchesReferenceConverterFile) {
  const std::string ref_path = testing::DataPath("tiny-rwkv6-r/tiny-rwkv6-r-f16.gguf");
  if (!std::filesystem::exists(ref_path)) GTEST_SKIP() << "no reference file " << ref_path;
  const std::string path = testing::MakeTempDir("synth") + "/r.gguf";
  SynthOptions o;
  o.output_path = path;
  o.n_embd = 64;
  o.head_size = 32;
  o.n_layer = 4;
  o.rescale_every = 2;
  ASSERT_TRUE(WriteSyntheticModel(o).ok());
  auto ours = OpenOrDie(path);
  auto ref = OpenOrDie(ref_path);
  ASSERT_NE(ours, nullptr);
  ASSERT_NE(ref, nullptr);
  ExpectSameLayout(*ours, *ref);
}

TEST(SynthTest, WorldVocabLayoutMatchesReferenceConverterFile) {
  const std::string ref_path = testing::DataPath("tiny-rwkv6/tiny-rwkv6-f16.gguf");
  const std::string vocab = testing::DataPath("rwkv_vocab_v20230424.txt");
  if (!std::filesystem::exists(ref_path) || !std::filesystem::exists(vocab)) {
    GTEST_SKIP() << "no reference files";
  }
  const std::string path = testing::MakeTempDir("synth") + "/w.gguf";
  SynthOptions o;
  o.output_path = path;
  o.n_embd = 128;
  o.n_layer = 3;
  o.vocab = vocab;
  o.rescale_every = 6;
  ASSERT_TRUE(WriteSyntheticModel(o).ok());
  auto ours = OpenOrDie(path);
  auto ref = OpenOrDie(ref_path);
  ASSERT_NE(ours, nullptr);
  ASSERT_NE(ref, nullptr);
  ExpectSameLayout(*ours, *ref);
}

}  // namespace
}  // namespace rwkv::engine
