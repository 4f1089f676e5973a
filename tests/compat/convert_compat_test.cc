// .pth -> GGUF and state .pth -> state file against the reference manifests and files.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/ascii.h"
#include "convert/convert_internal.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rwkv/engine/checkpoint_converter.h"
#include "rwkv/engine/gguf.h"
#include "support/json_lite.h"
#include "support/sha256.h"
#include "support/test_paths.h"

namespace rwkv::engine {
namespace {

using ::testing::HasSubstr;

std::string Ref(const std::string& rel) { return rwkv::testing::ReferenceDir() + "/" + rel; }

#define SKIP_IF_MISSING(path) \
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "reference data missing: " << (path)

rwkv::testing::JsonValue LoadManifest(const std::string& model) {
  auto json = rwkv::testing::ParseJson(rwkv::testing::ReadFileOrDie(Ref(model + "/manifest.json")));
  EXPECT_TRUE(json.ok()) << json.status();
  return json.ok() ? *json : rwkv::testing::JsonValue();
}

std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename());
  return out;
}

// Compares every tensor (name, type, ne, offset, sha256) and every KV key/type with the
// manifest's table for `gguf_key`.
void ExpectMatchesManifest(const GgufFile& file, const rwkv::testing::JsonValue& table) {
  ASSERT_EQ(file.tensors().size(), table["tensors"].size());
  for (size_t i = 0; i < file.tensors().size(); ++i) {
    const GgufTensorInfo& t = file.tensors()[i];
    const auto& want = table["tensors"][i];
    EXPECT_EQ(t.name, want["name"].AsString()) << i;
    EXPECT_EQ(absl::AsciiStrToUpper(std::string(GgmlTypeName(t.type))), want["type"].AsString())
        << t.name;
    const std::vector<int64_t> ne = want["ne"].AsIntVector();
    EXPECT_EQ(t.n_dims, ne.size()) << t.name;
    for (size_t d = 0; d < ne.size(); ++d) EXPECT_EQ(t.ne[d], ne[d]) << t.name;
    EXPECT_EQ(t.offset, static_cast<uint64_t>(want["offset"].AsInt())) << t.name;
    EXPECT_EQ(rwkv::testing::Sha256Hex({t.data, t.size_bytes}), want["sha256"].AsString())
        << t.name;
  }
  ASSERT_EQ(file.kvs().size(), table["kv"].size());
  for (size_t i = 0; i < file.kvs().size(); ++i) {
    EXPECT_EQ(file.kvs()[i].key, table["kv"][i]["key"].AsString()) << i;
  }
}

struct Case {
  std::string model;     // reference folder
  std::string pth;       // checkpoint in it
  std::string vocab;     // vocab path or "bytes"
  std::string name;      // general.name the reference carries
  uint32_t rescale;      // rescale_every_n_layers of the reference
  std::string outtype;   // f16 | f32
};

class ConvertCompatTest : public ::testing::TestWithParam<Case> {};

TEST_P(ConvertCompatTest, MatchesReferenceGgufByteForByte) {
  const Case& c = GetParam();
  const std::string pth = Ref(c.model + "/" + c.pth);
  SKIP_IF_MISSING(pth);
  const auto manifest = LoadManifest(c.model);
  const auto& table = manifest["gguf"][c.outtype];
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
  EXPECT_EQ(result->tensor_count, static_cast<uint64_t>(table["n_tensors"].AsInt()));
  EXPECT_EQ(result->output_bytes, static_cast<uint64_t>(table["size"].AsInt()));
  EXPECT_EQ(reports.load(), result->tensor_count);
  auto file = GgufFile::Open(options.output_path);
  ASSERT_TRUE(file.ok()) << file.status();
  ExpectMatchesManifest(**file, table);
  EXPECT_EQ(rwkv::testing::Sha256FileHex(options.output_path), table["sha256"].AsString());
  EXPECT_THAT(DirEntries(dir), ::testing::ElementsAre("out.gguf"));
}

INSTANTIATE_TEST_SUITE_P(
    Reference, ConvertCompatTest,
    ::testing::Values(
        Case{"tiny-rwkv6", "tiny-rwkv6-bf16.pth", "rwkv_vocab_v20230424.txt", "Tiny Rwkv6", 6, "f16"},
        Case{"tiny-rwkv6", "tiny-rwkv6-bf16.pth", "rwkv_vocab_v20230424.txt", "Tiny Rwkv6", 6, "f32"},
        Case{"tiny-rwkv6-r", "tiny-rwkv6-r-bf16.pth", "bytes", "Tiny Rwkv6 R", 2, "f16"},
        Case{"tiny-rwkv6-r", "tiny-rwkv6-r-f32.pth", "bytes", "Tiny Rwkv6 R", 2, "f32"}),
    [](const auto& info) {
      std::string n = info.param.pth.substr(0, info.param.pth.size() - 4) + "_" + info.param.outtype;
      for (char& ch : n) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
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
  ExpectMatchesManifest(**file, manifest["gguf"]["f16"]);
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
  for (const Bad& b : std::vector<Bad>{
           {state, vocab, "f16", "state-tuning file"},
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

}  // namespace
}  // namespace rwkv::engine
