#include "rwkv/engine/pth_reader.h"

#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "support/test_paths.h"
#include "unit/engine/pth/pth_builder.h"

namespace rwkv::engine {
namespace {

using ::rwkv::testing::MakeCheckpoint;
using ::rwkv::testing::PickleWriter;
using ::rwkv::testing::TensorSpec;
using ::rwkv::testing::ZipWriter;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

absl::StatusOr<std::unique_ptr<PthCheckpoint>> ParseString(const std::string& s) {
  return PthCheckpoint::Parse(Bytes(s), "test.pth");
}

std::string RefPath(const std::string& rel) { return rwkv::testing::DataPath(rel); }

TEST(PthCheckpointTest, ReadsReferenceModelCheckpoint) {
  const std::string path = RefPath("tiny-rwkv6/tiny-rwkv6-bf16.pth");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "reference data missing: " << path;
  auto ckpt = PthCheckpoint::Open(path);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  const auto& t = (*ckpt)->tensors();
  ASSERT_EQ(t.size(), 90u);
  EXPECT_EQ(t.front().name, "emb.weight");
  EXPECT_THAT(t.front().shape, ElementsAre(65536, 128));
  EXPECT_EQ(t.front().dtype, PthDtype::kBF16);
  EXPECT_EQ(t.back().name, "head.weight");
  const PthTensorInfo* faaaa = (*ckpt)->Find("blocks.2.att.time_faaaa");
  ASSERT_NE(faaaa, nullptr);
  EXPECT_THAT(faaaa->shape, ElementsAre(2, 64));
  const PthTensorInfo* w2 = (*ckpt)->Find("blocks.0.att.time_maa_w2");
  ASSERT_NE(w2, nullptr);
  EXPECT_THAT(w2->shape, ElementsAre(5, 32, 128));
  for (const PthTensorInfo& info : t) {
    EXPECT_EQ(info.dtype, PthDtype::kBF16) << info.name;
    EXPECT_TRUE(info.is_contiguous()) << info.name;
  }
  auto ln = (*ckpt)->ReadAsFloat32("blocks.0.ln1.weight");
  ASSERT_TRUE(ln.ok()) << ln.status();
  ASSERT_EQ(ln->size(), 128u);
  for (float v : *ln) EXPECT_NEAR(v, 1.0f, 0.6f);
}

TEST(PthCheckpointTest, ReadsReferenceStateCheckpoints) {
  for (const auto& [rel, layers, heads, size] : std::vector<std::tuple<std::string, int, int, int>>{
           {"tiny-rwkv6/tiny-rwkv6-state.pth", 3, 2, 64},
           {"tiny-rwkv6-r/tiny-rwkv6-r-state.pth", 4, 2, 32}}) {
    const std::string path = RefPath(rel);
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "reference data missing: " << path;
    auto ckpt = PthCheckpoint::Open(path);
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    ASSERT_EQ((*ckpt)->tensors().size(), static_cast<size_t>(layers));
    for (int l = 0; l < layers; ++l) {
      const PthTensorInfo& info = (*ckpt)->tensors()[l];
      EXPECT_EQ(info.name, "blocks." + std::to_string(l) + ".att.time_state");
      EXPECT_THAT(info.shape, ElementsAre(heads, size, size));
      EXPECT_EQ(info.dtype, PthDtype::kBF16);
    }
  }
}

TEST(PthCheckpointTest, Bf16AndF32ReferenceCopiesHoldEqualValues) {
  const std::string bf16 = RefPath("tiny-rwkv6-r/tiny-rwkv6-r-bf16.pth");
  const std::string f32 = RefPath("tiny-rwkv6-r/tiny-rwkv6-r-f32.pth");
  if (!std::filesystem::exists(bf16) || !std::filesystem::exists(f32)) GTEST_SKIP();
  auto a = PthCheckpoint::Open(bf16);
  auto b = PthCheckpoint::Open(f32);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ((*a)->tensors().size(), (*b)->tensors().size());
  for (size_t i = 0; i < (*a)->tensors().size(); ++i) {
    const PthTensorInfo& ta = (*a)->tensors()[i];
    const PthTensorInfo& tb = (*b)->tensors()[i];
    ASSERT_EQ(ta.name, tb.name);
    ASSERT_EQ(ta.shape, tb.shape);
    EXPECT_EQ(tb.dtype, PthDtype::kF32);
    auto va = (*a)->ReadAsFloat32(ta.name);
    auto vb = (*b)->ReadAsFloat32(tb.name);
    ASSERT_TRUE(va.ok() && vb.ok());
    EXPECT_EQ(*va, *vb) << ta.name;
  }
}

TEST(PthCheckpointTest, ReadsContiguousAndStridedViews) {
  const std::vector<float> data = {0, 1, 2, 3, 4, 5, 6, 7};
  std::vector<TensorSpec> specs = {
      {"plain", "FloatStorage", "0", 8, 0, {2, 3}, {3, 1}},
      {"transposed", "FloatStorage", "0", 8, 0, {3, 2}, {1, 3}},
      {"offset", "FloatStorage", "0", 8, 5, {3}, {1}},
      {"every_other", "FloatStorage", "0", 8, 1, {2, 2}, {4, 2}},
      {"scalar", "FloatStorage", "0", 8, 7, {}, {}},
  };
  const std::string file = MakeCheckpoint(specs, {{"0", rwkv::testing::F32Bytes(data)}});
  auto ckpt = ParseString(file);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_THAT(*(*ckpt)->ReadAsFloat32("plain"), ElementsAre(0, 1, 2, 3, 4, 5));
  EXPECT_THAT(*(*ckpt)->ReadAsFloat32("transposed"), ElementsAre(0, 3, 1, 4, 2, 5));
  EXPECT_THAT(*(*ckpt)->ReadAsFloat32("offset"), ElementsAre(5, 6, 7));
  EXPECT_THAT(*(*ckpt)->ReadAsFloat32("every_other"), ElementsAre(1, 3, 5, 7));
  EXPECT_THAT(*(*ckpt)->ReadAsFloat32("scalar"), ElementsAre(7));
  EXPECT_FALSE((*ckpt)->Find("transposed")->is_contiguous());
  EXPECT_EQ((*ckpt)->ReadAsFloat32("missing").status().code(), absl::StatusCode::kNotFound);
}

TEST(PthCheckpointTest, ReadsDeflatedHalfAndBfloat16Storages) {
  // 1.0, -2.0, 0.5 in f16 and bf16.
  const std::string f16("\x00\x3c\x00\xc0\x00\x38", 6);
  const std::string bf16("\x80\x3f\x00\xc0\x00\x3f", 6);
  const std::string file = MakeCheckpoint(
      {{"h", "HalfStorage", "0", 3, 0, {3}, {1}}, {"b", "BFloat16Storage", "1", 3, 0, {3}, {1}}},
      {{"0", f16}, {"1", bf16}}, /*deflate=*/true);
  auto ckpt = ParseString(file);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ((*ckpt)->Find("h")->dtype, PthDtype::kF16);
  EXPECT_THAT(*(*ckpt)->ReadAsFloat32("h"), ElementsAre(1.0f, -2.0f, 0.5f));
  EXPECT_THAT(*(*ckpt)->ReadAsFloat32("b"), ElementsAre(1.0f, -2.0f, 0.5f));
}

TEST(PthCheckpointTest, RefusesIntegerTensorsForFloatReads) {
  const std::string file =
      MakeCheckpoint({{"n", "LongStorage", "0", 1, 0, {}, {}}}, {{"0", std::string(8, '\0')}});
  auto ckpt = ParseString(file);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_THAT((*ckpt)->ReadAsFloat32("n").status().message(), HasSubstr("not a floating-point"));
}

TEST(PthCheckpointTest, ReadsLegacyStreamFormat) {
  PickleWriter w;
  w.Proto()
      .Op(0x8a)
      .Op(10)
      .Raw(std::string("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10))
      .Op('.');
  w.Proto().Op('M').Op(0xe9).Op(0x03).Op('.');
  w.Proto().Op('}').Mark().Unicode("little_endian").Op(0x88).Op('u').Op('.');
  w.Proto().Op('}').Mark().Unicode("w").Global("torch._utils", "_rebuild_tensor_v2").Mark();
  w.Mark().Unicode("storage").Global("torch", "FloatStorage").Unicode("94011").Unicode("cpu");
  w.Int(2).Op('N').Op('t').Op('Q').Int(0).IntTuple({2}).IntTuple({1}).Op(0x89).Op('}');
  w.Op('t').Op('R').Op('u').Op('.');
  w.Proto().Op(']').Mark().Unicode("94011").Op('e').Op('.');
  w.Raw(std::string("\x02\0\0\0\0\0\0\0", 8)).Raw(rwkv::testing::F32Bytes({1.5f, -3.0f}));
  auto ckpt = ParseString(w.str());
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_FALSE((*ckpt)->is_zip());
  EXPECT_THAT(*(*ckpt)->ReadAsFloat32("w"), ElementsAre(1.5f, -3.0f));
}

struct HostileCase {
  std::string name;
  std::string bytes;
  std::string message;
};

std::vector<HostileCase> HostileCases() {
  const std::string four = rwkv::testing::F32Bytes({1, 2, 3, 4});
  auto one = [&](TensorSpec spec, const std::string& storage) {
    return MakeCheckpoint({std::move(spec)}, {{"0", storage}});
  };
  std::vector<HostileCase> cases;
  {
    PickleWriter w;
    w.Proto().Global("os", "system").Unicode("echo pwned").Op(0x85).Op('R').Op('.');
    ZipWriter z;
    z.Add("archive/data.pkl", w.str());
    cases.push_back({"GlobalOsSystem", z.Finish(), "refusing global os.system"});
  }
  {
    PickleWriter w;
    w.Proto().Global("builtins", "eval").Op('.');
    ZipWriter z;
    z.Add("archive/data.pkl", w.str());
    cases.push_back({"GlobalEval", z.Finish(), "refusing global builtins.eval"});
  }
  {
    const std::string good = one({"t", "FloatStorage", "0", 4, 0, {4}, {1}}, four);
    cases.push_back({"TruncatedZip", good.substr(0, good.size() / 2), "truncated zip archive"});
    cases.push_back({"TruncatedZipTail", good.substr(0, good.size() - 5), "truncated zip archive"});
  }
  cases.push_back({"WrongStorageSize", one({"t", "FloatStorage", "0", 5, 0, {4}, {1}}, four),
                   "holds 16 bytes but declares 5 float32 elements"});
  cases.push_back({"HugeDeclaredShape",
                   one({"t", "FloatStorage", "0", 4, 0, {1ll << 30, 1ll << 30}, {1, 1}}, four),
                   "more than its storage holds"});
  cases.push_back(
      {"OverflowingShape",
       one({"t", "FloatStorage", "0", 4, 0, {1ll << 40, 1ll << 40, 1ll << 40}, {0, 0, 0}}, four),
       "overflowing element count"});
  cases.push_back(
      {"NegativeSize", one({"t", "FloatStorage", "0", 4, 0, {-4}, {1}}, four), "bad size -4"});
  cases.push_back({"OffsetPastEnd", one({"t", "FloatStorage", "0", 4, 2, {4}, {1}}, four),
                   "reaches past the end of its storage"});
  cases.push_back({"StridePastEnd", one({"t", "FloatStorage", "0", 4, 0, {2, 2}, {3, 1}}, four),
                   "reaches past the end of its storage"});
  cases.push_back({"NegativeOffset", one({"t", "FloatStorage", "0", 4, -1, {4}, {1}}, four),
                   "negative storage offset"});
  cases.push_back({"UnknownStorageType", one({"t", "QuantizedStorage", "0", 4, 0, {4}, {1}}, four),
                   "refusing global torch.QuantizedStorage"});
  {
    ZipWriter z;
    z.Add("archive/data.pkl", std::string("\x80\x02\xff.", 4));
    cases.push_back({"UnknownOpcode", z.Finish(), "unknown pickle opcode 0xff"});
  }
  {
    ZipWriter z;
    z.Add("archive/data.pkl", std::string("\x80\x02(cos\nsystem\ni.", 16));
    cases.push_back({"InstOpcode", z.Finish(), "refusing global os.system"});
  }
  {
    ZipWriter z;
    z.Add("archive/data.pkl", std::string("\x80\x02(i.", 5));
    cases.push_back({"InstOpcodeAlone", z.Finish(), "unsupported pickle opcode INST (0x69)"});
  }
  {
    ZipWriter z;
    z.Add("archive/data.pkl", std::string("\x80\x02}q\x00X\x10\x00\x00\x00"
                                          "ab",
                                          12));
    cases.push_back({"TruncatedPickle", z.Finish(), "truncated pickle"});
  }
  {
    ZipWriter z;
    z.Add("archive/data.pkl",
          rwkv::testing::StateDictPickle({{"t", "FloatStorage", "0", 4, 0, {4}, {1}}}));
    cases.push_back({"MissingStorage", z.Finish(), "storage data/0 is missing"});
  }
  {
    ZipWriter z;
    z.Add("archive/data.pkl",
          rwkv::testing::StateDictPickle({{"t", "FloatStorage", "0", 4, 0, {4}, {1}}}));
    z.Add("archive/data/0", std::string(4096, '\0'), /*deflate=*/true);
    z.SetLastDeclaredSize(0x7fffffff);
    cases.push_back({"ZipBomb", z.Finish(), "zip bomb"});
  }
  {
    ZipWriter z;
    z.Add("archive/data.pkl",
          rwkv::testing::StateDictPickle({{"t", "FloatStorage", "0", 4, 0, {4}, {1}}}), true);
    z.SetLastDeclaredSize(100);
    cases.push_back({"PickleInflatesPastDeclaredSize", z.Finish(), "inflates to more than"});
  }
  {
    ZipWriter z;
    z.Add("archive/version", "3\n");
    cases.push_back({"NoDataPkl", z.Finish(), "no <root>/data.pkl"});
  }
  {
    ZipWriter z;
    z.Add("archive/data.pkl",
          rwkv::testing::StateDictPickle({{"t", "FloatStorage", "0", 4, 0, {4}, {1}}}));
    z.Add("archive/byteorder", "big");
    z.Add("archive/data/0", four);
    cases.push_back({"BigEndian", z.Finish(), "big-endian"});
  }
  {
    PickleWriter w;
    w.Proto().Global("torch", "FloatStorage").Op(')').Op('R').Op('.');
    ZipWriter z;
    z.Add("archive/data.pkl", w.str());
    cases.push_back({"CallOfStorageType", z.Finish(), "refusing call of torch.FloatStorage"});
  }
  {
    PickleWriter w;
    w.Proto().Op(']').Op(']').Op('b').Op('.');
    ZipWriter z;
    z.Add("archive/data.pkl", w.str());
    cases.push_back({"BuildOnList", z.Finish(), "refusing BUILD"});
  }
  {
    PickleWriter w;
    w.Proto().Op('h').Op(7).Op('.');
    ZipWriter z;
    z.Add("archive/data.pkl", w.str());
    cases.push_back({"MissingMemo", z.Finish(), "memo entry 7 is missing"});
  }
  cases.push_back({"NotACheckpoint", "hello world", "neither a zip archive nor a pickle"});
  cases.push_back({"Empty", "", "neither a zip archive nor a pickle"});
  return cases;
}

TEST(PthCheckpointTest, RefusesHostileAndBrokenInputs) {
  for (const HostileCase& c : HostileCases()) {
    auto ckpt = ParseString(c.bytes);
    ASSERT_FALSE(ckpt.ok()) << c.name;
    EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(ckpt.status().message(), HasSubstr(c.message)) << c.name;
    EXPECT_THAT(ckpt.status().message(), HasSubstr("test.pth")) << c.name;
  }
}

TEST(PthCheckpointTest, EveryTruncationOfAValidFileFailsCleanly) {
  const std::string good = MakeCheckpoint({{"t", "FloatStorage", "0", 4, 0, {2, 2}, {2, 1}}},
                                          {{"0", rwkv::testing::F32Bytes({1, 2, 3, 4})}}, true);
  ASSERT_TRUE(ParseString(good).ok());
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(ParseString(good.substr(0, n)).ok()) << n;
  }
}

TEST(PthCheckpointTest, OpenReportsMissingFile) {
  auto ckpt = PthCheckpoint::Open("/nonexistent/dir/x.pth");
  ASSERT_FALSE(ckpt.ok());
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ckpt.status().message(), HasSubstr("/nonexistent/dir/x.pth"));
}

}  // namespace
}  // namespace rwkv::engine
