// Quantizing the reference F16 GGUF must reproduce llama-quantize's files byte for byte
// (tiny-rwkv6/manifest.json records every tensor's type, shape and sha256, the KV order and
// the whole file's sha256).
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "gtest/gtest.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/model_quantizer.h"
#include "rwkv/engine/quant.h"
#include "support/json_file.h"
#include "support/sha256.h"
#include "support/test_paths.h"

namespace rwkv::engine {
namespace {

using JsonValue = nlohmann::json;

class QuantizeCompatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_dir_ = rwkv::testing::DataPath("tiny-rwkv6");
    f16_path_ = model_dir_ + "/tiny-rwkv6-f16.gguf";
    RWKV_SKIP_WITHOUT_DATA(f16_path_);
    const std::string text = rwkv::testing::ReadFileOrDie(model_dir_ + "/manifest.json");
    manifest_ = rwkv::testing::ParseJsonOrFail(text);
    ASSERT_TRUE(manifest_.is_object()) << "cannot parse manifest.json";
    out_dir_ = rwkv::testing::MakeTempDir("quantize-compat");
  }

  // Quantizes the F16 reference to `target` and returns the output path.
  std::string Quantize(const std::string& target, int threads) {
    QuantizeOptions options;
    options.input_path = f16_path_;
    options.output_path = out_dir_ + "/" + target + "-" + std::to_string(threads) + ".gguf";
    options.target = target;
    options.threads = threads;
    absl::StatusOr<QuantizeResult> result = QuantizeGgufFile(options);
    EXPECT_TRUE(result.ok()) << result.status();
    return options.output_path;
  }

  // Compares tensor table and data of `path` with manifest gguf.<key>, KV order included.
  void ExpectMatchesManifestTensors(const std::string& path, const JsonValue& expected) {
    absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    const GgufFile& f = **file;
    const JsonValue& tensors = expected.at("tensors");
    ASSERT_EQ(f.tensors().size(), tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      const JsonValue& want = tensors.at(i);
      const GgufTensorInfo& got = f.tensors()[i];
      SCOPED_TRACE(got.name);
      EXPECT_EQ(got.name, want.at("name").get<std::string>());
      EXPECT_EQ(std::string(GgmlTypeName(got.type)),
                absl::AsciiStrToLower(want.at("type").get<std::string>()));
      const std::vector<int64_t> ne = want.at("ne").get<std::vector<int64_t>>();
      EXPECT_EQ(got.effective_dims(), ne.size());
      EXPECT_EQ(got.n_dims, ne.size());
      for (size_t d = 0; d < ne.size() && d < 4; ++d) EXPECT_EQ(got.ne[d], ne[d]);
      EXPECT_EQ(got.offset, static_cast<uint64_t>(want.at("offset").get<int64_t>()));
      EXPECT_EQ(got.size_bytes, static_cast<uint64_t>(want.at("nbytes").get<int64_t>()));
      EXPECT_EQ(rwkv::testing::Sha256Hex(std::span<const uint8_t>(got.data, got.size_bytes)),
                want.at("sha256").get<std::string>());
    }
  }

  void ExpectMatchesManifestKvs(const std::string& path, const JsonValue& expected,
                                uint32_t file_type) {
    absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    const JsonValue& kvs = expected.at("kv");
    ASSERT_EQ((*file)->kvs().size(), kvs.size());
    for (size_t i = 0; i < kvs.size(); ++i) {
      EXPECT_EQ((*file)->kvs()[i].key, kvs.at(i).at("key").get<std::string>()) << i;
    }
    absl::StatusOr<uint32_t> ft = (*file)->GetUint32("general.file_type");
    ASSERT_TRUE(ft.ok()) << ft.status();
    EXPECT_EQ(*ft, file_type);
  }

  std::string model_dir_;
  std::string f16_path_;
  std::string out_dir_;
  JsonValue manifest_;
};

TEST_F(QuantizeCompatTest, Q8_0MatchesLlamaQuantizeByteForByte) {
  const std::string out = Quantize("Q8_0", 2);
  const JsonValue& want = manifest_.at("gguf").at("q8_0");
  ExpectMatchesManifestTensors(out, want);
  ExpectMatchesManifestKvs(out, want, 7);
  EXPECT_EQ(std::filesystem::file_size(out),
            static_cast<uintmax_t>(want.at("size").get<int64_t>()));
  EXPECT_EQ(rwkv::testing::Sha256FileHex(out), want.at("sha256").get<std::string>());
}

TEST_F(QuantizeCompatTest, Q5_1MatchesLlamaQuantizeByteForByte) {
  const std::string out = Quantize("q5_1", 3);
  const JsonValue& want = manifest_.at("gguf").at("q5_1");
  ExpectMatchesManifestTensors(out, want);
  ExpectMatchesManifestKvs(out, want, 9);
  EXPECT_EQ(std::filesystem::file_size(out),
            static_cast<uintmax_t>(want.at("size").get<int64_t>()));
  EXPECT_EQ(rwkv::testing::Sha256FileHex(out), want.at("sha256").get<std::string>());
}

TEST_F(QuantizeCompatTest, Q6_KOnTinyModelFallsBackToQ8_0Tensors) {
  // Every ne0 is 128 or 448, so Q6_K falls back to Q8_0 everywhere (reference README).
  const std::string out = Quantize("Q6_K", 2);
  const JsonValue& want = manifest_.at("gguf").at("q8_0");
  ExpectMatchesManifestTensors(out, want);
  ExpectMatchesManifestKvs(out, want, 18);
}

TEST_F(QuantizeCompatTest, Q5_1FusedAndUnfusedRoundingBothReproduceTheReferenceFile) {
  // This file cannot tell the two roundings apart (QuantizeRow rounds twice, as llama.cpp's
  // reference quantizers do; quant_row_test checks that rule where the two differ).
  const std::string q51_path = model_dir_ + "/tiny-rwkv6-q5_1.gguf";
  absl::StatusOr<std::unique_ptr<GgufFile>> src = GgufFile::Open(f16_path_);
  absl::StatusOr<std::unique_ptr<GgufFile>> ref = GgufFile::Open(q51_path);
  ASSERT_TRUE(src.ok()) << src.status();
  ASSERT_TRUE(ref.ok()) << ref.status();
  int checked = 0;
  for (const GgufTensorInfo& t : (*ref)->tensors()) {
    if (t.type != GgmlType::kQ5_1) continue;
    const GgufTensorInfo* in = (*src)->FindTensor(t.name);
    ASSERT_NE(in, nullptr) << t.name;
    ASSERT_EQ(in->type, GgmlType::kF16);
    const int64_t ne0 = in->ne[0];
    std::vector<float> row(ne0);
    std::vector<uint8_t> fused(RowBytes(GgmlType::kQ5_1, ne0)), unfused(fused.size());
    for (int64_t r = 0; r < in->n_elements() / ne0; ++r) {
      ASSERT_TRUE(DequantizeRow(GgmlType::kF16, in->data + r * ne0 * 2, row.data(), ne0).ok());
      ASSERT_TRUE(
          QuantizeRowWith(GgmlType::kQ5_1, row.data(), fused.data(), ne0, FmaMode::kFused).ok());
      ASSERT_TRUE(
          QuantizeRowWith(GgmlType::kQ5_1, row.data(), unfused.data(), ne0, FmaMode::kUnfused)
              .ok());
      const uint8_t* want = t.data + r * fused.size();
      ASSERT_TRUE(std::equal(fused.begin(), fused.end(), want)) << t.name << " row " << r;
      ASSERT_TRUE(std::equal(unfused.begin(), unfused.end(), want)) << t.name << " row " << r;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 25);
}

TEST_F(QuantizeCompatTest, OutputDoesNotDependOnThreadCount) {
  const std::string one = Quantize("Q5_1", 1);
  const std::string four = Quantize("Q5_1", 4);
  EXPECT_EQ(rwkv::testing::Sha256FileHex(one), rwkv::testing::Sha256FileHex(four));
}

}  // namespace
}  // namespace rwkv::engine
