// Model::Load validation: a minimal hand-written rwkv6 GGUF loads, and each kind of broken
// file fails with a Status that names the file and the offending key or tensor.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "rwkv/engine/fp16.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/model.h"
#include "support/test_paths.h"

namespace rwkv::engine {
namespace {

constexpr int64_t kC = 32, kS = 16, kL = 2, kV = 8, kF = 64, kDm = 4, kDd = 8;

struct TensorSpec {
  GgmlType type = GgmlType::kF32;
  std::vector<int64_t> ne;
};

// Describes a small model; tests edit it before writing.
struct Spec {
  std::string arch = "rwkv6";
  std::map<std::string, GgufValue> kvs;
  std::vector<std::pair<std::string, TensorSpec>> tensors;
  bool fused_lerp = true;

  Spec() {
    const std::string p = "rwkv6.";
    kvs[p + "context_length"] = GgufValue::Uint32(1048576);
    kvs[p + "embedding_length"] = GgufValue::Uint32(kC);
    kvs[p + "block_count"] = GgufValue::Uint32(kL);
    kvs[p + "feed_forward_length"] = GgufValue::Uint32(kF);
    kvs[p + "attention.layer_norm_epsilon"] = GgufValue::Float32(1e-5f);
    kvs[p + "wkv.head_size"] = GgufValue::Uint32(kS);
    kvs[p + "time_mix_extra_dim"] = GgufValue::Uint32(kDm);
    kvs[p + "time_decay_extra_dim"] = GgufValue::Uint32(kDd);
    Add("token_embd.weight", GgmlType::kF16, {kC, kV});
    for (const char* n : {"token_embd_norm", "output_norm"}) {
      Add(absl::StrCat(n, ".weight"), GgmlType::kF32, {kC});
      Add(absl::StrCat(n, ".bias"), GgmlType::kF32, {kC});
    }
    Add("output.weight", GgmlType::kF16, {kC, kV});
  }
  void Add(std::string name, GgmlType type, std::vector<int64_t> ne) {
    tensors.push_back({std::move(name), {type, std::move(ne)}});
  }
  void AddLayers() {
    for (int l = 0; l < kL; ++l) {
      const std::string p = absl::StrCat("blk.", l, ".");
      for (const char* n : {"attn_norm", "attn_norm_2", "time_mix_ln"}) {
        Add(p + n + ".weight", GgmlType::kF32, {kC});
        Add(p + n + ".bias", GgmlType::kF32, {kC});
      }
      Add(p + "time_mix_lerp_x.weight", GgmlType::kF32, {kC, 1, 1});
      if (fused_lerp) {
        Add(p + "time_mix_lerp_fused.weight", GgmlType::kF32, {kC, 1, 1, 5});
      } else {
        for (const char* n : {"w", "k", "v", "r", "g"}) {
          Add(absl::StrCat(p, "time_mix_lerp_", n, ".weight"), GgmlType::kF32, {kC, 1, 1});
        }
      }
      Add(p + "time_mix_w1.weight", GgmlType::kF32, {kC, 5 * kDm});
      Add(p + "time_mix_w2.weight", GgmlType::kF32, {kDm, kC, 5});
      Add(p + "time_mix_decay.weight", GgmlType::kF32, {kC});
      Add(p + "time_mix_decay_w1.weight", GgmlType::kF16, {kC, kDd});
      Add(p + "time_mix_decay_w2.weight", GgmlType::kF32, {kDd, kC});
      Add(p + "time_mix_first.weight", GgmlType::kF32, {kS, kC / kS});
      for (const char* n : {"receptance", "key", "value", "gate", "output"}) {
        Add(absl::StrCat(p, "time_mix_", n, ".weight"), GgmlType::kQ8_0, {kC, kC});
      }
      Add(p + "channel_mix_lerp_k.weight", GgmlType::kF32, {kC});
      Add(p + "channel_mix_lerp_r.weight", GgmlType::kF32, {kC});
      Add(p + "channel_mix_key.weight", GgmlType::kQ8_0, {kC, kF});
      Add(p + "channel_mix_value.weight", GgmlType::kQ8_0, {kF, kC});
      Add(p + "channel_mix_receptance.weight", GgmlType::kQ8_0, {kC, kC});
    }
  }
  TensorSpec* Find(const std::string& name) {
    for (auto& [n, t] : tensors) {
      if (n == name) return &t;
    }
    return nullptr;
  }
  void Remove(const std::string& name) {
    std::erase_if(tensors, [&](const auto& t) { return t.first == name; });
  }
};

// The fused lerp's slot j (w, k, v, r, g) holds what the unfused time_mix_lerp_<j> holds.
float LerpValue(int64_t slot, int64_t i) {
  return static_cast<float>((i * 7 + slot * 13) % 100) / 100.0f;
}

// Small deterministic values: vectors near their meaning (norm weights ~1, lerps in [0,1],
// decay around -3), matrices ±0.1, so the forward pass stays finite.
float Value(const std::string& name, int64_t i) {
  const float u = static_cast<float>((i * 2654435761u) % 1000) / 1000.0f;  // [0,1)
  if (name.find("norm.weight") != std::string::npos ||
      name.find("_ln.weight") != std::string::npos) {
    return 0.9f + 0.2f * u;
  }
  if (name.find("lerp_fused") != std::string::npos) return LerpValue(i / kC, i % kC);
  for (int slot = 0; slot < 5; ++slot) {
    if (name.find(std::string("lerp_") + "wkvrg"[slot] + ".") != std::string::npos) {
      return LerpValue(slot, i);
    }
  }
  if (name.find("lerp") != std::string::npos) return u;
  if (name.find("decay.weight") != std::string::npos) return -3.0f + u;
  return 0.2f * (u - 0.5f);
}

std::string Write(const Spec& spec, const std::string& file) {
  GgufWriter w;
  w.AddKv("general.architecture", GgufValue::String(spec.arch));
  for (const auto& [k, v] : spec.kvs) w.AddKv(k, v);
  for (const auto& [name, t] : spec.tensors) {
    const std::string n = name;
    const TensorSpec ts = t;
    EXPECT_TRUE(w.AddTensor(n, ts.type, ts.ne, [n, ts](std::span<uint8_t> out) {
                   int64_t count = 1;
                   for (int64_t d : ts.ne) count *= d;
                   if (ts.type == GgmlType::kF32) {
                     for (int64_t i = 0; i < count; ++i) {
                       const float v = Value(n, i);
                       std::memcpy(out.data() + 4 * i, &v, 4);
                     }
                   } else if (ts.type == GgmlType::kF16) {
                     for (int64_t i = 0; i < count; ++i) {
                       const uint16_t h = Fp32ToFp16(Value(n, i));
                       std::memcpy(out.data() + 2 * i, &h, 2);
                     }
                   } else {  // Q8_0: scale 1/127·0.1, values from Value()
                     for (int64_t b = 0; b < count / 32; ++b) {
                       const uint16_t d = Fp32ToFp16(0.1f / 127.0f);
                       std::memcpy(out.data() + 34 * b, &d, 2);
                       for (int j = 0; j < 32; ++j) {
                         out[34 * b + 2 + j] = static_cast<uint8_t>(
                             static_cast<int8_t>(std::lround(Value(n, 32 * b + j) * 635.0f)));
                       }
                     }
                   }
                   return absl::OkStatus();
                 }).ok());
  }
  const std::string path = rwkv::testing::MakeTempDir("model-load") + "/" + file;
  EXPECT_TRUE(w.WriteFile(path).ok());
  return path;
}

Spec GoodSpec() {
  Spec s;
  s.AddLayers();
  return s;
}

absl::Status LoadStatus(const std::string& path) {
  absl::StatusOr<std::unique_ptr<Model>> m = Model::Load(path, {.threads = 1});
  return m.status();
}

TEST(ModelLoadTest, LoadsAValidModelAndReportsItsConfig) {
  absl::StatusOr<std::unique_ptr<Model>> m = Model::Load(Write(GoodSpec(), "good.gguf"));
  ASSERT_TRUE(m.ok()) << m.status();
  const ModelConfig& c = (*m)->config();
  EXPECT_EQ(c.n_embd, kC);
  EXPECT_EQ(c.n_layer, kL);
  EXPECT_EQ(c.head_size, kS);
  EXPECT_EQ(c.n_head, kC / kS);
  EXPECT_EQ(c.n_ffn, kF);
  EXPECT_EQ(c.n_vocab, kV);
  EXPECT_EQ(c.rescale_every, 0u);
  EXPECT_FLOAT_EQ(c.eps, 1e-5f);
  EXPECT_EQ((*m)->gguf().FindTensor("output.weight")->ne[1], kV);
  // token_embd contributes one row (kC f16 values) to the bytes read per token.
  uint64_t expected = 0;
  for (const auto& t : (*m)->gguf().tensors()) {
    expected += t.name == "token_embd.weight" ? kC * 2 : t.size_bytes;
  }
  EXPECT_EQ((*m)->weight_bytes_per_token(), expected);

  RecurrentState s = (*m)->NewState();
  std::vector<float> logits(3 * kV);
  const std::vector<int32_t> tokens = {1, 5, 7};
  ASSERT_TRUE((*m)->EvaluateAll(s, tokens, logits.data()).ok());
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
}

TEST(ModelLoadTest, UnfusedLerpsGiveTheSameLogitsAsFused) {
  Spec unfused;
  unfused.fused_lerp = false;
  unfused.AddLayers();
  absl::StatusOr<std::unique_ptr<Model>> a = Model::Load(Write(GoodSpec(), "fused.gguf"));
  absl::StatusOr<std::unique_ptr<Model>> b = Model::Load(Write(unfused, "unfused.gguf"));
  ASSERT_TRUE(a.ok() && b.ok()) << b.status();
  const std::vector<int32_t> tokens = {2, 3};
  std::vector<float> la(2 * kV), lb(2 * kV);
  RecurrentState sa = (*a)->NewState(), sb = (*b)->NewState();
  ASSERT_TRUE((*a)->EvaluateAll(sa, tokens, la.data()).ok());
  ASSERT_TRUE((*b)->EvaluateAll(sb, tokens, lb.data()).ok());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_FLOAT_EQ(la[i], lb[i]) << i;
}

void ExpectError(const absl::Status& s, absl::StatusCode code,
                 const std::vector<std::string>& fragments) {
  EXPECT_EQ(s.code(), code) << s;
  for (const std::string& f : fragments) {
    EXPECT_NE(s.message().find(f), std::string::npos) << "'" << f << "' not in: " << s;
  }
}

TEST(ModelLoadTest, RejectsAnotherArchitecture) {
  Spec s = GoodSpec();
  s.arch = "llama";
  const std::string path = Write(s, "llama.gguf");
  ExpectError(LoadStatus(path), absl::StatusCode::kInvalidArgument, {path, "llama", "rwkv6"});
}

TEST(ModelLoadTest, RejectsAMissingTensor) {
  Spec s = GoodSpec();
  s.Remove("blk.1.time_mix_gate.weight");
  const std::string path = Write(s, "missing.gguf");
  ExpectError(LoadStatus(path), absl::StatusCode::kNotFound, {path, "blk.1.time_mix_gate.weight"});
}

TEST(ModelLoadTest, RejectsAMisshapenTensor) {
  Spec s = GoodSpec();
  s.Find("blk.0.channel_mix_value.weight")->ne = {kC, kC};
  const std::string path = Write(s, "shape.gguf");
  ExpectError(LoadStatus(path), absl::StatusCode::kInvalidArgument,
              {path, "blk.0.channel_mix_value.weight", "expected"});
}

TEST(ModelLoadTest, RejectsANonF32Vector) {
  Spec s = GoodSpec();
  s.Find("blk.0.time_mix_first.weight")->type = GgmlType::kF16;
  const std::string path = Write(s, "vector-type.gguf");
  ExpectError(LoadStatus(path), absl::StatusCode::kInvalidArgument,
              {path, "blk.0.time_mix_first.weight", "f16", "f32"});
}

TEST(ModelLoadTest, RejectsAnUnsupportedWeightType) {
  Spec s = GoodSpec();
  s.Find("blk.0.time_mix_key.weight")->type = GgmlType::kI8;
  const std::string path = Write(s, "i8.gguf");
  ExpectError(LoadStatus(path), absl::StatusCode::kUnimplemented,
              {path, "blk.0.time_mix_key.weight", "i8"});
}

TEST(ModelLoadTest, RejectsAHyperParameterOfTheWrongType) {
  Spec s = GoodSpec();
  s.kvs["rwkv6.block_count"] = GgufValue::Int32(kL);
  const std::string path = Write(s, "kv-type.gguf");
  ExpectError(LoadStatus(path), absl::StatusCode::kInvalidArgument, {path, "rwkv6.block_count"});
}

TEST(ModelLoadTest, RejectsAMissingRequiredKey) {
  Spec s = GoodSpec();
  s.kvs.erase("rwkv6.wkv.head_size");
  const std::string path = Write(s, "no-head-size.gguf");
  ExpectError(LoadStatus(path), absl::StatusCode::kNotFound, {path, "rwkv6.wkv.head_size"});
}

TEST(ModelLoadTest, RejectsInconsistentFeedForwardLength) {
  Spec s = GoodSpec();
  s.kvs["rwkv6.feed_forward_length"] = GgufValue::Uint32(kF + 32);
  const std::string path = Write(s, "ffn.gguf");
  ExpectError(LoadStatus(path), absl::StatusCode::kInvalidArgument, {path, "feed_forward_length"});
}

TEST(ModelLoadTest, RejectsATruncatedFile) {
  const std::string path = Write(GoodSpec(), "truncated.gguf");
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  const absl::Status s = LoadStatus(path);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(path), std::string::npos) << s;
}

TEST(ModelLoadTest, RejectsAnUnknownBackend) {
  absl::StatusOr<std::unique_ptr<Model>> m =
      Model::Load(Write(GoodSpec(), "backend.gguf"), {.backend = "quantum"});
  ExpectError(m.status(), absl::StatusCode::kNotFound, {"quantum"});
}

TEST(ModelLoadTest, CheckStateRejectsAnotherShape) {
  absl::StatusOr<std::unique_ptr<Model>> m = Model::Load(Write(GoodSpec(), "state.gguf"));
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE((*m)->CheckState((*m)->NewState()).ok());
  const RecurrentState other = RecurrentState::Zero({kL, kC, kS / 2});
  ExpectError((*m)->CheckState(other), absl::StatusCode::kInvalidArgument, {"head_size"});
}

}  // namespace
}  // namespace rwkv::engine
