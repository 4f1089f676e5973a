// .pth -> GGUF and state .pth -> state file against the reference manifests and files.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "absl/strings/ascii.h"
#include "convert/convert_internal.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rwkv/engine/checkpoint_converter.h"
#include "rwkv/engine/fp16.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/pth_reader.h"
#include "support/json_file.h"
#include "support/sha256.h"
#include "support/test_paths.h"
#include "unit/engine/pth/pth_builder.h"

namespace rwkv::engine {
namespace {

using ::testing::HasSubstr;

std::string Ref(const std::string& rel) { return rwkv::testing::DataPath(rel); }

#define SKIP_IF_MISSING(path) RWKV_SKIP_WITHOUT_DATA(path)

nlohmann::json LoadManifest(const std::string& model) {
  return rwkv::testing::ReadJsonFile(Ref(model + "/manifest.json"));
}

std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename());
  return out;
}

// Compares every tensor (name, type, ne, offset, sha256) and every KV key/type with the
// manifest's table for `gguf_key`.
void ExpectMatchesManifest(const GgufFile& file, const nlohmann::json& table) {
  ASSERT_EQ(file.tensors().size(), table.at("tensors").size());
  for (size_t i = 0; i < file.tensors().size(); ++i) {
    const GgufTensorInfo& t = file.tensors()[i];
    const auto& want = table.at("tensors").at(i);
    EXPECT_EQ(t.name, want.at("name").get<std::string>()) << i;
    EXPECT_EQ(absl::AsciiStrToUpper(std::string(GgmlTypeName(t.type))),
              want.at("type").get<std::string>())
        << t.name;
    const std::vector<int64_t> ne = want.at("ne").get<std::vector<int64_t>>();
    EXPECT_EQ(t.n_dims, ne.size()) << t.name;
    for (size_t d = 0; d < ne.size(); ++d) EXPECT_EQ(t.ne[d], ne[d]) << t.name;
    EXPECT_EQ(t.offset, static_cast<uint64_t>(want.at("offset").get<int64_t>())) << t.name;
    EXPECT_EQ(rwkv::testing::Sha256Hex({t.data, t.size_bytes}),
              want.at("sha256").get<std::string>())
        << t.name;
  }
  ASSERT_EQ(file.kvs().size(), table.at("kv").size());
  for (size_t i = 0; i < file.kvs().size(); ++i) {
    EXPECT_EQ(file.kvs()[i].key, table.at("kv").at(i).at("key").get<std::string>()) << i;
  }
}

struct Case {
  std::string model;    // reference folder
  std::string pth;      // checkpoint in it
  std::string vocab;    // vocab path or "bytes"
  std::string name;     // general.name the reference carries
  uint32_t rescale;     // rescale_every_n_layers of the reference
  std::string outtype;  // f16 | f32
};

class ConvertCompatTest : public ::testing::TestWithParam<Case> {};

TEST_P(ConvertCompatTest, MatchesReferenceGgufByteForByte) {
  const Case& c = GetParam();
  const std::string pth = Ref(c.model + "/" + c.pth);
  SKIP_IF_MISSING(pth);
  const auto manifest = LoadManifest(c.model);
  const auto& table = manifest.at("gguf").at(c.outtype);
  ASSERT_TRUE(table.is_object());
  const std::string dir = rwkv::testing::MakeTempDir("convert_compat");
  ConvertOptions options;
  options.checkpoint_path = pth;
  options.vocab_path = c.vocab == "bytes" ? c.vocab : Ref(c.vocab);
  options.output_path = dir + "/out.gguf";
  options.outtype = c.outtype;
  std::atomic<uint64_t> reports{0};
  options.control.progress = [&](const JobProgress& p) {
    EXPECT_LE(p.tensors_done, p.tensors_total);
    ++reports;
  };
  convert::CheckpointConvertConfig config;
  config.rescale_every_n_layers = c.rescale;
  config.model_name = c.name;
  auto result = convert::ConvertCheckpointWithConfig(options, config);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->tensor_count, static_cast<uint64_t>(table.at("n_tensors").get<int64_t>()));
  EXPECT_EQ(result->output_bytes, static_cast<uint64_t>(table.at("size").get<int64_t>()));
  EXPECT_EQ(reports.load(), result->tensor_count);
  auto file = GgufFile::Open(options.output_path);
  ASSERT_TRUE(file.ok()) << file.status();
  ExpectMatchesManifest(**file, table);
  EXPECT_EQ(rwkv::testing::Sha256FileHex(options.output_path),
            table.at("sha256").get<std::string>());
  EXPECT_THAT(DirEntries(dir), ::testing::ElementsAre("out.gguf"));
}

INSTANTIATE_TEST_SUITE_P(Reference, ConvertCompatTest,
                         ::testing::Values(Case{"tiny-rwkv6", "tiny-rwkv6-bf16.pth",
                                                "rwkv_vocab_v20230424.txt", "Tiny Rwkv6", 6, "f16"},
                                           Case{"tiny-rwkv6", "tiny-rwkv6-bf16.pth",
                                                "rwkv_vocab_v20230424.txt", "Tiny Rwkv6", 6, "f32"},
                                           Case{"tiny-rwkv6-r", "tiny-rwkv6-r-bf16.pth", "bytes",
                                                "Tiny Rwkv6 R", 2, "f16"},
                                           Case{"tiny-rwkv6-r", "tiny-rwkv6-r-f32.pth", "bytes",
                                                "Tiny Rwkv6 R", 2, "f32"}),
                         [](const auto& info) {
                           std::string n = info.param.pth.substr(0, info.param.pth.size() - 4) +
                                           "_" + info.param.outtype;
                           for (char& ch : n)
                             ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return n;
                         });

TEST(ConvertCheckpointTest, PublicApiMatchesManifestTensorByTensor) {
  const std::string pth = Ref("tiny-rwkv6/tiny-rwkv6-bf16.pth");
  SKIP_IF_MISSING(pth);
  const auto manifest = LoadManifest("tiny-rwkv6");
  const std::string dir = rwkv::testing::MakeTempDir("convert_api");
  ConvertOptions options;
  options.checkpoint_path = pth;
  options.vocab_path = Ref("rwkv_vocab_v20230424.txt");
  options.output_path = dir + "/model.gguf";
  auto result = ConvertCheckpoint(options);
  ASSERT_TRUE(result.ok()) << result.status();
  auto file = GgufFile::Open(options.output_path);
  ASSERT_TRUE(file.ok()) << file.status();
  ExpectMatchesManifest(**file, manifest.at("gguf").at("f16"));
  EXPECT_EQ(*(*file)->GetString("general.name"), "Tiny Rwkv6 Bf16");
  EXPECT_EQ(*(*file)->GetString("general.size_label"), "18M");
  EXPECT_EQ(*(*file)->GetUint32("rwkv6.rescale_every_n_layers"), 6u);
  EXPECT_EQ(*(*file)->GetUint32("general.file_type"), 1u);
}

TEST(ConvertCheckpointTest, Bf16OuttypeKeepsProjectionsInBf16) {
  const std::string pth = Ref("tiny-rwkv6-r/tiny-rwkv6-r-bf16.pth");
  SKIP_IF_MISSING(pth);
  const std::string dir = rwkv::testing::MakeTempDir("convert_bf16");
  ConvertOptions options;
  options.checkpoint_path = pth;
  options.vocab_path = "bytes";
  options.output_path = dir + "/m.gguf";
  options.outtype = "bf16";
  ASSERT_TRUE(ConvertCheckpoint(options).ok());
  auto file = GgufFile::Open(options.output_path);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(*(*file)->GetUint32("general.file_type"), 32u);
  EXPECT_EQ((*file)->FindTensor("blk.0.time_mix_key.weight")->type, GgmlType::kBF16);
  EXPECT_EQ((*file)->FindTensor("blk.0.time_mix_w1.weight")->type, GgmlType::kF32);
  EXPECT_EQ((*file)->FindTensor("output.weight")->type, GgmlType::kBF16);
}

TEST(ConvertCheckpointTest, RejectsBadInputsAndLeavesNoFile) {
  const std::string model = Ref("tiny-rwkv6/tiny-rwkv6-bf16.pth");
  const std::string state = Ref("tiny-rwkv6/tiny-rwkv6-state.pth");
  SKIP_IF_MISSING(model);
  const std::string dir = rwkv::testing::MakeTempDir("convert_bad");
  const std::string truncated = dir + "/truncated.pth";
  {
    const std::string bytes = rwkv::testing::ReadFileOrDie(model);
    std::ofstream(truncated, std::ios::binary).write(bytes.data(), bytes.size() / 2);
  }
  struct Bad {
    std::string pth, vocab, outtype, message;
  };
  const std::string vocab = Ref("rwkv_vocab_v20230424.txt");
  for (const Bad& b : std::vector<Bad>{{state, vocab, "f16", "state-tuning file"},
                                       {truncated, vocab, "f16", "truncated zip archive"},
                                       {model, vocab, "q4_9", "unknown outtype"},
                                       {model, dir + "/no-vocab.txt", "f16", "no-vocab.txt"},
                                       {model, "bytes", "f16", "256 rows"},
                                       {dir + "/missing.pth", vocab, "f16", "missing.pth"}}) {
    ConvertOptions options;
    options.checkpoint_path = b.pth;
    options.vocab_path = b.vocab;
    options.outtype = b.outtype;
    options.output_path = dir + "/out.gguf";
    auto result = ConvertCheckpoint(options);
    ASSERT_FALSE(result.ok()) << b.message;
    EXPECT_THAT(result.status().message(), HasSubstr(b.message));
    EXPECT_FALSE(std::filesystem::exists(options.output_path)) << b.message;
  }
  EXPECT_THAT(DirEntries(dir), ::testing::ElementsAre("truncated.pth"));
}

TEST(ConvertCheckpointTest, CancelStopsAndRemovesTheTemporaryFile) {
  const std::string pth = Ref("tiny-rwkv6/tiny-rwkv6-bf16.pth");
  SKIP_IF_MISSING(pth);
  const std::string dir = rwkv::testing::MakeTempDir("convert_cancel");
  std::atomic<bool> cancel{false};
  ConvertOptions options;
  options.checkpoint_path = pth;
  options.vocab_path = Ref("rwkv_vocab_v20230424.txt");
  options.output_path = dir + "/out.gguf";
  options.control.cancel = &cancel;
  options.control.progress = [&](const JobProgress& p) {
    if (p.tensors_done == 5) cancel = true;
  };
  auto result = ConvertCheckpoint(options);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

TEST(ConvertStateCheckpointTest, MatchesTutorialConverterOutputByteForByte) {
  for (const std::string model : {"tiny-rwkv6", "tiny-rwkv6-r"}) {
    const std::string pth = Ref(model + "/" + model + "-state.pth");
    const std::string want = Ref(model + "/" + model + "-state.session-v9.bin");
    SKIP_IF_MISSING(pth);
    const std::string dir = rwkv::testing::MakeTempDir("convert_state");
    ConvertStateOptions options;
    options.state_path = pth;
    options.output_path = dir + "/state.bin";
    auto result = ConvertStateCheckpoint(options);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->output_bytes, std::filesystem::file_size(want));
    EXPECT_TRUE(rwkv::testing::ReadFileOrDie(options.output_path) ==
                rwkv::testing::ReadFileOrDie(want))
        << model;
  }
}

TEST(ConvertStateCheckpointTest, RejectsModelCheckpointAndLeavesNoFile) {
  const std::string pth = Ref("tiny-rwkv6/tiny-rwkv6-bf16.pth");
  SKIP_IF_MISSING(pth);
  const std::string dir = rwkv::testing::MakeTempDir("convert_state_bad");
  ConvertStateOptions options;
  options.state_path = pth;
  options.output_path = dir + "/state.bin";
  auto result = ConvertStateCheckpoint(options);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("model checkpoint"));
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

// A synthetic RWKV-6 checkpoint (C=4, one head of 4, L=2, V=256, F=8, Dm=1, Dd=2), f32.
namespace synthetic {

using ::rwkv::testing::TensorSpec;

struct Model {
  std::vector<TensorSpec> specs;
  std::vector<std::pair<std::string, std::string>> storages;

  void Add(const std::string& name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<int64_t> stride(shape.size(), 1);
    for (size_t d = shape.size(); d-- > 1;) stride[d - 1] = stride[d] * shape[d];
    const std::string key = std::to_string(storages.size());
    std::vector<float> values(n);
    for (int64_t i = 0; i < n; ++i) values[i] = static_cast<float>(storages.size()) + 0.001f * i;
    specs.push_back({name, "FloatStorage", key, n, 0, shape, stride});
    storages.push_back({key, rwkv::testing::F32Bytes(values)});
  }
  void Remove(const std::string& name) {
    std::erase_if(specs, [&](const TensorSpec& t) { return t.name == name; });
  }
  void Reshape(const std::string& name, std::vector<int64_t> shape) {
    for (TensorSpec& t : specs) {
      if (t.name == name) {
        t.shape = shape;
        t.stride.assign(shape.size(), 1);
        for (size_t d = shape.size(); d-- > 1;) t.stride[d - 1] = t.stride[d] * shape[d];
      }
    }
  }
  std::string Bytes() const { return rwkv::testing::MakeCheckpoint(specs, storages); }
};

Model Make() {
  const int64_t C = 4, V = 256, F = 8;
  Model m;
  m.Add("emb.weight", {V, C});
  for (int l = 0; l < 2; ++l) {
    const std::string b = "blocks." + std::to_string(l) + ".";
    m.Add(b + "ln1.weight", {C});
    m.Add(b + "ln1.bias", {C});
    m.Add(b + "ln2.weight", {C});
    m.Add(b + "ln2.bias", {C});
    if (l == 0) {
      m.Add(b + "ln0.weight", {C});
      m.Add(b + "ln0.bias", {C});
    }
    for (const char* x : {"x", "w", "k", "v", "r", "g"}) m.Add(b + "att.time_maa_" + x, {1, 1, C});
    m.Add(b + "att.time_maa_w1", {C, 5});
    m.Add(b + "att.time_maa_w2", {5, 1, C});
    m.Add(b + "att.time_decay", {1, 1, C});
    m.Add(b + "att.time_decay_w1", {C, 2});
    m.Add(b + "att.time_decay_w2", {2, C});
    m.Add(b + "att.time_faaaa", {1, C});
    for (const char* p : {"receptance", "key", "value", "output", "gate"}) {
      m.Add(b + "att." + p + ".weight", {C, C});
    }
    m.Add(b + "att.ln_x.weight", {C});
    m.Add(b + "att.ln_x.bias", {C});
    m.Add(b + "ffn.time_maa_k", {1, 1, C});
    m.Add(b + "ffn.time_maa_r", {1, 1, C});
    m.Add(b + "ffn.key.weight", {F, C});
    m.Add(b + "ffn.receptance.weight", {C, C});
    m.Add(b + "ffn.value.weight", {C, F});
  }
  m.Add("ln_out.weight", {C});
  m.Add("ln_out.bias", {C});
  m.Add("head.weight", {V, C});
  return m;
}

absl::StatusOr<std::unique_ptr<GgufFile>> Convert(const Model& m, const std::string& dir,
                                                  uint32_t rescale = 6) {
  const std::string pth = dir + "/model.pth";
  const std::string bytes = m.Bytes();
  std::ofstream(pth, std::ios::binary).write(bytes.data(), bytes.size());
  ConvertOptions options;
  options.checkpoint_path = pth;
  options.vocab_path = "bytes";
  options.output_path = dir + "/model.gguf";
  convert::CheckpointConvertConfig config;
  config.rescale_every_n_layers = rescale;
  auto result = convert::ConvertCheckpointWithConfig(options, config);
  if (!result.ok()) return result.status();
  return GgufFile::Open(options.output_path);
}

std::vector<float> F32Data(const GgufFile& f, const std::string& name) {
  const GgufTensorInfo* t = f.FindTensor(name);
  EXPECT_NE(t, nullptr) << name;
  if (t == nullptr || t->type != GgmlType::kF32) return {};
  std::vector<float> v(t->size_bytes / 4);
  std::memcpy(v.data(), t->data, t->size_bytes);
  return v;
}

}  // namespace synthetic

TEST(ConvertCheckpointTest, AppliesTransposesFusionAndRescaleOnSyntheticModel) {
  synthetic::Model m = synthetic::Make();
  m.Add("blocks.1.att.time_state", {1, 4, 4});  // state-tuned models carry it; it is dropped
  const std::string dir = rwkv::testing::MakeTempDir("convert_synth");
  auto file = synthetic::Convert(m, dir, /*rescale=*/1);
  ASSERT_TRUE(file.ok()) << file.status();
  const GgufFile& f = **file;
  EXPECT_EQ(f.FindTensor("blk.1.time_state.weight"), nullptr);
  EXPECT_EQ(f.tensors().size(), 4u + 2u + 2u * 24u);
  EXPECT_EQ(*f.GetUint32("rwkv6.time_mix_extra_dim"), 1u);
  EXPECT_EQ(*f.GetUint32("rwkv6.wkv.head_size"), 4u);
  EXPECT_EQ(*f.GetUint32("rwkv6.rescale_every_n_layers"), 1u);
  // time_mix_w1: .pth (C=4, 5) row-major -> GGUF row-major (5, 4).
  const PthTensorInfo* w1_src = nullptr;
  auto ckpt = PthCheckpoint::Open(dir + "/model.pth");
  ASSERT_TRUE(ckpt.ok());
  w1_src = (*ckpt)->Find("blocks.0.att.time_maa_w1");
  const std::vector<float> w1 = *(*ckpt)->ReadAsFloat32(w1_src->name);
  const std::vector<float> got = synthetic::F32Data(f, "blk.0.time_mix_w1.weight");
  ASSERT_EQ(got.size(), 20u);
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 5; ++j) EXPECT_EQ(got[j * 4 + i], w1[i * 5 + j]);
  }
  // time_mix_w2: (5, 1, 4) -> (5, 4, 1): same order when Dm = 1.
  EXPECT_EQ(synthetic::F32Data(f, "blk.0.time_mix_w2.weight"),
            *(*ckpt)->ReadAsFloat32("blocks.0.att.time_maa_w2"));
  // Fused lerp: w, k, v, r, g stacked.
  const std::vector<float> fused = synthetic::F32Data(f, "blk.1.time_mix_lerp_fused.weight");
  ASSERT_EQ(fused.size(), 20u);
  int slot = 0;
  for (const char* part : {"w", "k", "v", "r", "g"}) {
    const auto src = *(*ckpt)->ReadAsFloat32(std::string("blocks.1.att.time_maa_") + part);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(fused[slot * 4 + i], src[i]) << part;
    ++slot;
  }
  EXPECT_EQ(f.FindTensor("blk.1.time_mix_lerp_fused.weight")->n_dims, 4u);
  // Rescale every layer: layer 1's att.output is stored halved (F16 of exact halves).
  const GgufTensorInfo* out1 = f.FindTensor("blk.1.time_mix_output.weight");
  ASSERT_EQ(out1->type, GgmlType::kF16);
  const auto src = *(*ckpt)->ReadAsFloat32("blocks.1.att.output.weight");
  uint16_t h;
  std::memcpy(&h, out1->data + 2 * 3, 2);
  EXPECT_EQ(Fp16ToFp32(h), Fp16ToFp32(Fp32ToFp16(src[3] * 0.5f)));
}

TEST(ConvertCheckpointTest, RejectsBrokenSyntheticModelsWithClearErrors) {
  struct Case {
    std::string name;
    std::function<void(synthetic::Model&)> edit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"WrongShape",
       [](auto& m) {
         m.Reshape("blocks.1.ffn.value.weight", {4, 7});
       },
       "tensor blocks.1.ffn.value.weight has shape [4, 7], expected [4, 8]"},
      {"MissingTensor", [](auto& m) { m.Remove("blocks.1.att.gate.weight"); },
       "missing tensor blocks.1.att.gate.weight"},
      {"MissingHead", [](auto& m) { m.Remove("head.weight"); }, "missing tensor head.weight"},
      {"UnknownTensor", [](auto& m) { m.Add("blocks.0.att.bonus", {4}); },
       "unexpected tensor blocks.0.att.bonus"},
      {"HeadsDoNotSplit",
       [](auto& m) {
         m.Remove("blocks.0.att.time_faaaa");
         m.Add("blocks.0.att.time_faaaa", {3, 4});
       },
       "does not split n_embd"},
      {"Rwkv5",
       [](auto& m) {
         m.Remove("blocks.0.att.time_maa_x");
         m.Add("blocks.0.att.time_mix_k", {1, 1, 4});
       },
       "RWKV-4/5"},
      {"Rwkv7",
       [](auto& m) {
         m.Remove("blocks.0.att.time_maa_x");
         m.Add("blocks.0.att.x_r", {1, 1, 4});
       },
       "RWKV-7"},
  };
  for (const Case& c : cases) {
    synthetic::Model m = synthetic::Make();
    c.edit(m);
    const std::string dir = rwkv::testing::MakeTempDir("convert_synth_bad");
    auto file = synthetic::Convert(m, dir);
    ASSERT_FALSE(file.ok()) << c.name;
    EXPECT_THAT(file.status().message(), HasSubstr(c.message)) << c.name;
    EXPECT_THAT(file.status().message(), HasSubstr("model.pth")) << c.name;
    EXPECT_FALSE(std::filesystem::exists(dir + "/model.gguf")) << c.name;
  }
}

TEST(ConvertCheckpointTest, Q8OuttypeQuantizesProjectionRowsOfWholeBlocks) {
  synthetic::Model m = synthetic::Make();
  const std::string dir = rwkv::testing::MakeTempDir("convert_q8");
  const std::string pth = dir + "/model.pth";
  const std::string bytes = m.Bytes();
  std::ofstream(pth, std::ios::binary).write(bytes.data(), bytes.size());
  ConvertOptions options;
  options.checkpoint_path = pth;
  options.vocab_path = "bytes";
  options.output_path = dir + "/q.gguf";
  options.outtype = "q8_0";
  ASSERT_TRUE(ConvertCheckpoint(options).ok());
  auto f = GgufFile::Open(options.output_path);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*(*f)->GetUint32("general.file_type"), 7u);
  // C = 4 is not a multiple of 32: llama.cpp's converter falls back to F16 for such rows.
  EXPECT_EQ((*f)->FindTensor("output.weight")->type, GgmlType::kF16);
}

}  // namespace
}  // namespace rwkv::engine
