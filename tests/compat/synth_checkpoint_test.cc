// WriteSyntheticCheckpoint (rwkv synth --format pth) against the checkpoint converter: the .pth
// it writes converts to the same model `rwkv synth` writes as GGUF, tensor for tensor.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rwkv/engine/checkpoint_converter.h"
#include "rwkv/engine/fp16.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/synth.h"
#include "support/test_paths.h"

namespace rwkv::engine {
namespace {

SynthOptions Small(const std::string& path) {
  SynthOptions o;
  o.output_path = path;
  o.n_embd = 64;
  o.head_size = 32;
  o.n_layer = 2;
  o.seed = 11;
  o.threads = 1;
  return o;
}

std::vector<float> Floats(const GgufTensorInfo& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  for (int64_t i = 0; i < t.n_elements(); ++i) {
    if (t.type == GgmlType::kF32) {
      std::memcpy(&out[i], t.data + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      out[i] = t.type == GgmlType::kBF16 ? Bf16ToFp32(h) : Fp16ToFp32(h);
    }
  }
  return out;
}

TEST(SynthCheckpointTest, ConvertsToTheSynthModel) {
  const std::string dir = testing::MakeTempDir("synth_checkpoint");
  SynthOptions pth = Small(dir + "/demo.pth");
  absl::StatusOr<SynthResult> written = WriteSyntheticCheckpoint(pth);
  ASSERT_TRUE(written.ok()) << written.status();
  // time_maa_{w,k,v,r,g} are separate in a checkpoint: 4 tensors more per layer than the GGUF.
  EXPECT_EQ(written->tensor_count, 6u + 24u * 2 + 4u * 2);
  EXPECT_EQ(written->file_bytes, std::filesystem::file_size(pth.output_path));

  ConvertOptions convert;
  convert.checkpoint_path = pth.output_path;
  convert.vocab_path = "bytes";
  convert.output_path = dir + "/converted.gguf";
  convert.outtype = "f32";
  absl::StatusOr<ConvertResult> converted = ConvertCheckpoint(convert);
  ASSERT_TRUE(converted.ok()) << converted.status();

  // The GGUF synth with BF16 projections: the checkpoint holds every value in BF16, so
  // projections match exactly and F32 tensors to BF16 rounding.
  SynthOptions gguf = Small(dir + "/reference.gguf");
  gguf.type = GgmlType::kBF16;
  absl::StatusOr<SynthResult> reference = WriteSyntheticModel(gguf);
  ASSERT_TRUE(reference.ok()) << reference.status();

  auto ours = GgufFile::Open(convert.output_path);
  auto ref = GgufFile::Open(gguf.output_path);
  ASSERT_TRUE(ours.ok()) << ours.status();
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_EQ((*ours)->tensors().size(), (*ref)->tensors().size());
  for (const GgufTensorInfo& r : (*ref)->tensors()) {
    const GgufTensorInfo* o = (*ours)->FindTensor(r.name);
    ASSERT_NE(o, nullptr) << r.name;
    EXPECT_EQ(o->ne, r.ne) << r.name;
    const std::vector<float> a = Floats(*o);
    const std::vector<float> b = Floats(r);
    ASSERT_EQ(a.size(), b.size()) << r.name;
    for (size_t i = 0; i < a.size(); ++i) {
      if (r.type == GgmlType::kBF16) {
        ASSERT_EQ(a[i], b[i]) << r.name << " element " << i;
      } else {
        ASSERT_NEAR(a[i], b[i], std::fabs(b[i]) / 256.0f + 1e-30f) << r.name << " element " << i;
      }
    }
  }
  std::filesystem::remove_all(dir);
}

TEST(SynthCheckpointTest, RejectsRescaleAndLeavesNothingBehind) {
  const std::string dir = testing::MakeTempDir("synth_checkpoint_bad");
  SynthOptions o = Small(dir + "/bad.pth");
  o.rescale_every = 2;
  absl::StatusOr<SynthResult> r = WriteSyntheticCheckpoint(o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(o.output_path));
  o.rescale_every = 0;
  o.output_path = dir + "/missing-dir/x.pth";
  EXPECT_FALSE(WriteSyntheticCheckpoint(o).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rwkv::engine
