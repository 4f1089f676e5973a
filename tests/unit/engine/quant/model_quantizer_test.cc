// QuantizeGgufFile on small synthetic rwkv6-shaped GGUFs: type choices (output rule, K-quant
// fallbacks, kept tensors), tensor/KV order, data, bad input and cancellation.
#include "rwkv/engine/model_quantizer.h"

#include <atomic>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rwkv/engine/fp16.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/quant.h"
#include "support/test_paths.h"

namespace rwkv::engine {
namespace {

constexpr int64_t kC = 256;  // n_embd: a multiple of 256, so K-quants apply
constexpr int64_t kF = 352;  // FFN width: not a multiple of 256, exercises the fallbacks
constexpr int64_t kV = 320;  // vocab

struct SourceTensor {
  std::string name;
  GgmlType type;
  std::vector<int64_t> ne;
  std::vector<float> values;  // exactly representable in `type`
};

// Values drawn from N(0, 0.1²), rounded to the storage type so they are exact.
SourceTensor MakeTensor(std::string name, GgmlType type, std::vector<int64_t> ne, uint32_t seed) {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.1f);
  SourceTensor t{std::move(name), type, std::move(ne), std::vector<float>(n)};
  for (float& v : t.values) {
    v = dist(rng);
    if (type == GgmlType::kF16) v = Fp16ToFp32(Fp32ToFp16(v));
    if (type == GgmlType::kBF16) v = Bf16ToFp32(Fp32ToBf16(v));
  }
  return t;
}

std::vector<SourceTensor> SyntheticModel(GgmlType matrix_type) {
  std::vector<SourceTensor> t;
  uint32_t seed = 1;
  auto add = [&](std::string name, GgmlType type, std::vector<int64_t> ne) {
    t.push_back(MakeTensor(std::move(name), type, std::move(ne), seed++));
  };
  add("token_embd.weight", matrix_type, {kC, kV});
  add("blk.0.attn_norm.weight", GgmlType::kF32, {kC});
  add("blk.0.attn_norm.bias", GgmlType::kF32, {kC});
  add("blk.0.time_mix_lerp_fused.weight", GgmlType::kF32, {kC, 1, 1, 5});
  add("blk.0.time_mix_w1.weight", matrix_type, {kC, 160});
  add("blk.0.time_mix_decay.weight", GgmlType::kF32, {kC, 1, 1});  // n_dims 3, ggml_n_dims 1
  add("blk.0.time_mix_key.weight", matrix_type, {kC, kC});
  add("blk.0.channel_mix_key.weight", matrix_type, {kC, kF});
  add("blk.0.channel_mix_value.weight", matrix_type, {kF, kC});
  add("blk.10.attn_norm.weight", GgmlType::kF32, {kC});
  add("blk.2.time_mix_receptance.weight", GgmlType::kBF16, {kC, kC});
  add("output_norm.weight", GgmlType::kF32, {kC});
  add("output.weight", matrix_type, {kC, kV});
  return t;
}

absl::Status WriteModel(const std::vector<SourceTensor>& tensors, const std::string& path) {
  GgufWriter w;
  w.AddKv("general.architecture", GgufValue::String("rwkv6"));
  w.AddKv("general.file_type", GgufValue::Uint32(1));
  w.AddKv("rwkv6.block_count", GgufValue::Uint32(11));
  w.AddKv("general.quantization_version", GgufValue::Uint32(2));
  w.AddKv("rwkv6.feed_forward_length", GgufValue::Uint32(kF));
  for (const SourceTensor& t : tensors) {
    const SourceTensor* tp = &t;
    absl::Status s = w.AddTensor(t.name, t.type, t.ne, [tp](std::span<uint8_t> out) {
      return QuantizeRow(tp->type, tp->values.data(), out.data(),
                         static_cast<int64_t>(tp->values.size()));
    });
    if (!s.ok()) return s;
  }
  return w.WriteFile(path);
}

class ModelQuantizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = rwkv::testing::MakeTempDir("model-quantizer");
    source_ = SyntheticModel(GgmlType::kF16);
    input_ = dir_ + "/in-f16.gguf";
    ASSERT_TRUE(WriteModel(source_, input_).ok());
  }

  absl::StatusOr<QuantizeResult> Run(const std::string& target, const std::string& out,
                                     int threads = 2) {
    QuantizeOptions o;
    o.input_path = input_;
    o.output_path = out;
    o.target = target;
    o.threads = threads;
    return QuantizeGgufFile(o);
  }

  // Output tensor name -> type.
  std::map<std::string, GgmlType> TypesOf(const GgufFile& f) {
    std::map<std::string, GgmlType> m;
    for (const auto& t : f.tensors()) m[t.name] = t.type;
    return m;
  }

  const SourceTensor& Source(const std::string& name) {
    for (const auto& t : source_) {
      if (t.name == name) return t;
    }
    ADD_FAILURE() << "no source tensor " << name;
    return source_[0];
  }

  std::vector<std::string> DirEntries() {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
  std::string input_;
  std::vector<SourceTensor> source_;
};

TEST_F(ModelQuantizerTest, Q4_K_MChoosesTypesLikeLlamaQuantize) {
  const std::string out = dir_ + "/q4km.gguf";
  ASSERT_TRUE(Run("Q4_K_M", out).ok());
  absl::StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::Open(out);
  ASSERT_TRUE(f.ok()) << f.status();
  std::map<std::string, GgmlType> types = TypesOf(**f);
  EXPECT_EQ(types["output.weight"], GgmlType::kQ6_K);
  EXPECT_EQ(types["token_embd.weight"], GgmlType::kQ4_K);
  EXPECT_EQ(types["blk.0.time_mix_key.weight"], GgmlType::kQ4_K);
  EXPECT_EQ(types["blk.0.channel_mix_key.weight"], GgmlType::kQ4_K);
  EXPECT_EQ(types["blk.0.channel_mix_value.weight"], GgmlType::kQ5_0);    // ne0 = 352
  EXPECT_EQ(types["blk.2.time_mix_receptance.weight"], GgmlType::kQ4_K);  // from BF16
  EXPECT_EQ(types["blk.0.time_mix_w1.weight"], GgmlType::kF16);           // kept as stored
  EXPECT_EQ(types["blk.0.time_mix_lerp_fused.weight"], GgmlType::kF32);
  EXPECT_EQ(types["blk.0.attn_norm.weight"], GgmlType::kF32);
  EXPECT_EQ(types["output_norm.weight"], GgmlType::kF32);
  absl::StatusOr<uint32_t> ft = (*f)->GetUint32("general.file_type");
  ASSERT_TRUE(ft.ok());
  EXPECT_EQ(*ft, 15u);
}

TEST_F(ModelQuantizerTest, TargetsPickOutputAndFallbackTypes) {
  struct Case {
    std::string target;
    GgmlType output, ffn_value, matrix;
  };
  for (const Case& c : {Case{"Q8_0", GgmlType::kQ8_0, GgmlType::kQ8_0, GgmlType::kQ8_0},
                        Case{"Q5_1", GgmlType::kQ6_K, GgmlType::kQ5_1, GgmlType::kQ5_1},
                        Case{"Q4_0", GgmlType::kQ6_K, GgmlType::kQ4_0, GgmlType::kQ4_0},
                        Case{"Q5_K_S", GgmlType::kQ6_K, GgmlType::kQ5_1, GgmlType::kQ5_K},
                        Case{"Q6_K", GgmlType::kQ6_K, GgmlType::kQ8_0, GgmlType::kQ6_K},
                        Case{"BF16", GgmlType::kBF16, GgmlType::kBF16, GgmlType::kBF16},
                        Case{"F32", GgmlType::kF32, GgmlType::kF32, GgmlType::kF32}}) {
    SCOPED_TRACE(c.target);
    const std::string out = dir_ + "/" + c.target + ".gguf";
    ASSERT_TRUE(Run(c.target, out).ok());
    absl::StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::Open(out);
    ASSERT_TRUE(f.ok()) << f.status();
    std::map<std::string, GgmlType> types = TypesOf(**f);
    EXPECT_EQ(types["output.weight"], c.output);
    EXPECT_EQ(types["blk.0.channel_mix_value.weight"], c.ffn_value);
    EXPECT_EQ(types["blk.0.time_mix_key.weight"], c.matrix);
    EXPECT_EQ(types["blk.0.time_mix_w1.weight"], GgmlType::kF16);
  }
}

TEST_F(ModelQuantizerTest, WritesTensorsByLayerThenNameAndMovesFileTypeLast) {
  const std::string out = dir_ + "/q8.gguf";
  ASSERT_TRUE(Run("q8_0", out).ok());
  absl::StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::Open(out);
  ASSERT_TRUE(f.ok()) << f.status();
  std::vector<std::string> names;
  for (const auto& t : (*f)->tensors()) names.push_back(t.name);
  const std::vector<std::string> want = {"output.weight",
                                         "output_norm.weight",
                                         "token_embd.weight",
                                         "blk.0.attn_norm.bias",
                                         "blk.0.attn_norm.weight",
                                         "blk.0.channel_mix_key.weight",
                                         "blk.0.channel_mix_value.weight",
                                         "blk.0.time_mix_decay.weight",
                                         "blk.0.time_mix_key.weight",
                                         "blk.0.time_mix_lerp_fused.weight",
                                         "blk.0.time_mix_w1.weight",
                                         "blk.2.time_mix_receptance.weight",
                                         "blk.10.attn_norm.weight"};
  EXPECT_EQ(names, want);
  std::vector<std::string> keys;
  for (const auto& kv : (*f)->kvs()) keys.push_back(kv.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"general.architecture", "rwkv6.block_count",
                                            "rwkv6.feed_forward_length",
                                            "general.quantization_version", "general.file_type"}));
  const GgufTensorInfo* decay = (*f)->FindTensor("blk.0.time_mix_decay.weight");
  ASSERT_NE(decay, nullptr);
  EXPECT_EQ(decay->n_dims, 1u);  // written as ggml_n_dims
  const GgufTensorInfo* lerp = (*f)->FindTensor("blk.0.time_mix_lerp_fused.weight");
  ASSERT_NE(lerp, nullptr);
  EXPECT_EQ(lerp->n_dims, 4u);
  EXPECT_EQ((*f)->alignment(), 32u);
  for (const auto& t : (*f)->tensors()) EXPECT_EQ(t.offset % 32, 0u) << t.name;
}

TEST_F(ModelQuantizerTest, QuantizedDataEqualsRowQuantizerAndStaysClose) {
  const std::string out = dir_ + "/q4km.gguf";
  ASSERT_TRUE(Run("Q4_K_M", out, 3).ok());
  absl::StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::Open(out);
  ASSERT_TRUE(f.ok()) << f.status();
  // Relative RMSE limits per output type for N(0, 0.1²) data.
  const std::map<GgmlType, double> limit = {{GgmlType::kQ4_K, 0.09},
                                            {GgmlType::kQ5_0, 0.055},
                                            {GgmlType::kQ6_K, 0.023},
                                            {GgmlType::kF16, 0.0},
                                            {GgmlType::kF32, 0.0}};
  for (const GgufTensorInfo& t : (*f)->tensors()) {
    SCOPED_TRACE(t.name);
    const SourceTensor& src = Source(t.name);
    ASSERT_EQ(t.n_elements(), static_cast<int64_t>(src.values.size()));
    std::vector<uint8_t> expected(t.size_bytes);
    ASSERT_TRUE(QuantizeRow(t.type, src.values.data(), expected.data(), t.n_elements()).ok());
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), t.data));
    std::vector<float> back(src.values.size());
    ASSERT_TRUE(DequantizeRow(t.type, t.data, back.data(), t.n_elements()).ok());
    double err = 0, ref = 0;
    for (size_t i = 0; i < back.size(); ++i) {
      err += std::pow(back[i] - src.values[i], 2);
      ref += std::pow(src.values[i], 2);
    }
    ASSERT_TRUE(limit.count(t.type)) << GgmlTypeName(t.type);
    EXPECT_LE(std::sqrt(err / ref), limit.at(t.type)) << GgmlTypeName(t.type);
  }
}

TEST_F(ModelQuantizerTest, OutputRequantizedFromItsF16CopyIsIdentical) {
  // F16 -> F16 copies bytes; quantizing the copy gives the same file as the original.
  const std::string f16 = dir_ + "/copy-f16.gguf";
  ASSERT_TRUE(Run("F16", f16).ok());
  const std::string a = dir_ + "/a.gguf";
  const std::string b = dir_ + "/b.gguf";
  ASSERT_TRUE(Run("Q5_K_M", a).ok());
  input_ = f16;
  ASSERT_TRUE(Run("Q5_K_M", b).ok());
  EXPECT_EQ(rwkv::testing::ReadFileOrDie(a), rwkv::testing::ReadFileOrDie(b));
}

TEST_F(ModelQuantizerTest, RejectsQuantizedInputAndLeavesNothingBehind) {
  const std::string q8 = dir_ + "/q8.gguf";
  ASSERT_TRUE(Run("Q8_0", q8).ok());
  input_ = q8;
  absl::StatusOr<QuantizeResult> r = Run("Q4_0", dir_ + "/again.gguf");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("q8_0"), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find(q8), std::string::npos) << r.status();
  EXPECT_NE(r.status().message().find(".weight"), std::string::npos) << r.status();
  EXPECT_EQ(DirEntries(), (std::vector<std::string>{"in-f16.gguf", "q8.gguf"}));
}

TEST_F(ModelQuantizerTest, UnknownTargetListsValidNames) {
  absl::StatusOr<QuantizeResult> r = Run("Q9_9", dir_ + "/out.gguf");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  for (const char* name : {"Q9_9", "Q8_0", "Q5_1", "Q4_K_M", "Q6_K", "BF16"}) {
    EXPECT_NE(r.status().message().find(name), std::string::npos) << r.status();
  }
  EXPECT_EQ(DirEntries(), std::vector<std::string>{"in-f16.gguf"});
}

TEST_F(ModelQuantizerTest, NonFiniteWeightsAreRejectedByTensorName) {
  source_ = SyntheticModel(GgmlType::kF32);
  source_[6].values[1000] = NAN;  // blk.0.time_mix_key.weight
  input_ = dir_ + "/in-f32.gguf";
  ASSERT_TRUE(WriteModel(source_, input_).ok());
  absl::StatusOr<QuantizeResult> r = Run("Q8_0", dir_ + "/out.gguf");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("blk.0.time_mix_key.weight"), std::string::npos)
      << r.status();
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/out.gguf"));
}

TEST_F(ModelQuantizerTest, CancelStopsAndRemovesTheTemporaryFile) {
  std::atomic<bool> cancel{false};
  QuantizeOptions o;
  o.input_path = input_;
  o.output_path = dir_ + "/out.gguf";
  o.target = "Q5_1";
  o.control.cancel = &cancel;
  std::vector<JobProgress> seen;
  o.control.progress = [&](const JobProgress& p) {
    seen.push_back(p);
    if (p.tensors_done == 3) cancel = true;
  };
  absl::StatusOr<QuantizeResult> r = QuantizeGgufFile(o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(DirEntries(), std::vector<std::string>{"in-f16.gguf"});
}

TEST_F(ModelQuantizerTest, ReportsProgressAndSizes) {
  QuantizeOptions o;
  o.input_path = input_;
  o.output_path = dir_ + "/out.gguf";
  o.target = "Q8_0";
  std::vector<JobProgress> seen;
  o.control.progress = [&](const JobProgress& p) { seen.push_back(p); };
  absl::StatusOr<QuantizeResult> r = QuantizeGgufFile(o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(seen.size(), source_.size());
  EXPECT_EQ(seen.back().tensors_done, source_.size());
  EXPECT_EQ(seen.back().tensors_total, source_.size());
  EXPECT_EQ(seen.back().bytes_done, seen.back().bytes_total);
  EXPECT_EQ(r->tensor_count, source_.size());
  EXPECT_EQ(r->input_bytes, std::filesystem::file_size(input_));
  EXPECT_EQ(r->output_bytes, std::filesystem::file_size(o.output_path));
  EXPECT_LT(r->output_bytes, r->input_bytes);
}

TEST_F(ModelQuantizerTest, MissingInputIsAnError) {
  input_ = dir_ + "/does-not-exist.gguf";
  absl::StatusOr<QuantizeResult> r = Run("Q8_0", dir_ + "/out.gguf");
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/out.gguf"));
}

}  // namespace
}  // namespace rwkv::engine
