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
#include "support/sha256.h"
#include "support/test_paths.h"

namespace rwkv::engine {
namespace {

// Just enough JSON for manifest.json: objects, arrays, strings (the manifest's escapes),
// numbers, true/false/null. Malformed input fails the current test.
struct JsonValue {
  std::string string;
  double number = 0;
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> members;

  size_t size() const { return items.size(); }
  const JsonValue& operator[](size_t i) const { return items[i]; }
  const JsonValue& operator[](const std::string& key) const {
    static const JsonValue kNull;
    for (const auto& [k, v] : members) {
      if (k == key) return v;
    }
    ADD_FAILURE() << "manifest has no member " << key;
    return kNull;
  }
  const std::string& AsString() const { return string; }
  int64_t AsInt() const { return static_cast<int64_t>(number); }
  std::vector<int64_t> AsIntVector() const {
    std::vector<int64_t> v;
    for (const JsonValue& item : items) v.push_back(item.AsInt());
    return v;
  }
};

class JsonReader {
 public:
  explicit JsonReader(const std::string& text) : text_(text) {}

  bool Parse(JsonValue* out) {
    if (!Value(out, 0)) return false;
    SkipSpace();
    return pos_ == text_.size();
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool String(std::string* out) {
    if (!Consume('"')) return false;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char c = text_[pos_++];
      if (c == '\\') {
        if (pos_ >= text_.size()) return false;
        const char e = text_[pos_++];
        if (e == 'u') {  // the manifest only escapes ASCII this way
          if (pos_ + 4 > text_.size()) return false;
          c = static_cast<char>(std::strtol(text_.substr(pos_, 4).c_str(), nullptr, 16));
          pos_ += 4;
        } else {
          const std::map<char, char> simple = {
              {'n', '\n'}, {'t', '\t'}, {'r', '\r'}, {'b', '\b'}, {'f', '\f'}};
          c = simple.count(e) ? simple.at(e) : e;
        }
      }
      out->push_back(c);
    }
    return Consume('"');
  }
  bool Value(JsonValue* out, int depth) {
    if (depth > 64) return false;
    SkipSpace();
    if (pos_ >= text_.size()) return false;
    const char c = text_[pos_];
    if (c == '{') {
      ++pos_;
      if (Consume('}')) return true;
      do {
        std::string key;
        JsonValue v;
        if (!String(&key) || !Consume(':') || !Value(&v, depth + 1)) return false;
        out->members.emplace_back(std::move(key), std::move(v));
      } while (Consume(','));
      return Consume('}');
    }
    if (c == '[') {
      ++pos_;
      if (Consume(']')) return true;
      do {
        JsonValue v;
        if (!Value(&v, depth + 1)) return false;
        out->items.push_back(std::move(v));
      } while (Consume(','));
      return Consume(']');
    }
    if (c == '"') return String(&out->string);
    for (const char* word : {"true", "false", "null"}) {
      if (text_.compare(pos_, std::strlen(word), word) == 0) {
        pos_ += std::strlen(word);
        return true;
      }
    }
    char* end = nullptr;
    out->number = std::strtod(text_.c_str() + pos_, &end);
    if (end == text_.c_str() + pos_) return false;
    pos_ = static_cast<size_t>(end - text_.c_str());
    return true;
  }

  const std::string& text_;
  size_t pos_ = 0;
};

class QuantizeCompatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_dir_ = rwkv::testing::ReferenceDir() + "/tiny-rwkv6";
    f16_path_ = model_dir_ + "/tiny-rwkv6-f16.gguf";
    if (!std::filesystem::exists(f16_path_))
      GTEST_SKIP() << "reference data missing: " << f16_path_;
    const std::string text = rwkv::testing::ReadFileOrDie(model_dir_ + "/manifest.json");
    ASSERT_TRUE(JsonReader(text).Parse(&manifest_)) << "cannot parse manifest.json";
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
    const JsonValue& tensors = expected["tensors"];
    ASSERT_EQ(f.tensors().size(), tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      const JsonValue& want = tensors[i];
      const GgufTensorInfo& got = f.tensors()[i];
      SCOPED_TRACE(got.name);
      EXPECT_EQ(got.name, want["name"].AsString());
      EXPECT_EQ(std::string(GgmlTypeName(got.type)),
                absl::AsciiStrToLower(want["type"].AsString()));
      const std::vector<int64_t> ne = want["ne"].AsIntVector();
      EXPECT_EQ(got.effective_dims(), ne.size());
      EXPECT_EQ(got.n_dims, ne.size());
      for (size_t d = 0; d < ne.size() && d < 4; ++d) EXPECT_EQ(got.ne[d], ne[d]);
      EXPECT_EQ(got.offset, static_cast<uint64_t>(want["offset"].AsInt()));
      EXPECT_EQ(got.size_bytes, static_cast<uint64_t>(want["nbytes"].AsInt()));
      EXPECT_EQ(rwkv::testing::Sha256Hex(std::span<const uint8_t>(got.data, got.size_bytes)),
                want["sha256"].AsString());
    }
  }

  void ExpectMatchesManifestKvs(const std::string& path, const JsonValue& expected,
                                uint32_t file_type) {
    absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    const JsonValue& kvs = expected["kv"];
    ASSERT_EQ((*file)->kvs().size(), kvs.size());
    for (size_t i = 0; i < kvs.size(); ++i) {
      EXPECT_EQ((*file)->kvs()[i].key, kvs[i]["key"].AsString()) << i;
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
  const JsonValue& want = manifest_["gguf"]["q8_0"];
  ExpectMatchesManifestTensors(out, want);
  ExpectMatchesManifestKvs(out, want, 7);
  EXPECT_EQ(std::filesystem::file_size(out), static_cast<uintmax_t>(want["size"].AsInt()));
  EXPECT_EQ(rwkv::testing::Sha256FileHex(out), want["sha256"].AsString());
}

TEST_F(QuantizeCompatTest, Q5_1MatchesLlamaQuantizeByteForByte) {
  const std::string out = Quantize("q5_1", 3);
  const JsonValue& want = manifest_["gguf"]["q5_1"];
  ExpectMatchesManifestTensors(out, want);
  ExpectMatchesManifestKvs(out, want, 9);
  EXPECT_EQ(std::filesystem::file_size(out), static_cast<uintmax_t>(want["size"].AsInt()));
  EXPECT_EQ(rwkv::testing::Sha256FileHex(out), want["sha256"].AsString());
}

TEST_F(QuantizeCompatTest, Q6_KOnTinyModelFallsBackToQ8_0Tensors) {
  // Every ne0 is 128 or 448, so Q6_K falls back to Q8_0 everywhere (reference README).
  const std::string out = Quantize("Q6_K", 2);
  const JsonValue& want = manifest_["gguf"]["q8_0"];
  ExpectMatchesManifestTensors(out, want);
  ExpectMatchesManifestKvs(out, want, 18);
}

TEST_F(QuantizeCompatTest, Q5_1FusedAndUnfusedRoundingBothReproduceTheReferenceFile) {
  // Evidence behind the FMA choice: this file cannot tell the two forms apart.
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
