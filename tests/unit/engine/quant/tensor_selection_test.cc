// llama-quantize's naming rules for rwkv6 and its target names (docs/engine/quantization.md,
// "llama-quantize's rules", "Target names").
#include "quant/tensor_selection.h"

#include "gtest/gtest.h"
#include "rwkv/engine/model_quantizer.h"

namespace rwkv::engine::quant {
namespace {

TEST(TensorSelectionTest, QuantizesOnlyTwoDimensionalNonExcludedWeights) {
  EXPECT_TRUE(IsQuantizableTensor("token_embd.weight", 2));
  EXPECT_TRUE(IsQuantizableTensor("output.weight", 2));
  EXPECT_TRUE(IsQuantizableTensor("blk.3.time_mix_gate.weight", 2));
  EXPECT_TRUE(IsQuantizableTensor("blk.3.channel_mix_value.weight", 2));
  EXPECT_FALSE(IsQuantizableTensor("blk.3.time_mix_decay.weight", 1));
  EXPECT_FALSE(IsQuantizableTensor("blk.3.attn_norm_2.weight", 1));
  // The name test is a plain substring match, as in llama-quantize: "_norm_2.weight" does not
  // contain "_norm.weight", only its 1-D shape keeps it unquantized.
  EXPECT_TRUE(IsQuantizableTensor("blk.3.attn_norm_2.weight", 2));
  EXPECT_FALSE(IsQuantizableTensor("token_embd_norm.weight", 2));
  EXPECT_FALSE(IsQuantizableTensor("blk.0.attn_norm.bias", 2));
  for (const char* kept : {"time_mix_first", "time_mix_w1", "time_mix_w2", "time_mix_decay_w1",
                           "time_mix_decay_w2", "time_mix_lerp_fused"}) {
    EXPECT_FALSE(IsQuantizableTensor(std::string("blk.1.") + kept + ".weight", 2)) << kept;
  }
}

TEST(TensorSelectionTest, OutputWeightBecomesQ6_KUnlessQ8_0OrRowTooShort) {
  EXPECT_EQ(ChooseTensorType("output.weight", 2048, GgmlType::kQ5_1), GgmlType::kQ6_K);
  EXPECT_EQ(ChooseTensorType("output.weight", 2048, GgmlType::kQ4_K), GgmlType::kQ6_K);
  EXPECT_EQ(ChooseTensorType("output.weight", 2048, GgmlType::kQ8_0), GgmlType::kQ8_0);
  EXPECT_EQ(ChooseTensorType("output.weight", 128, GgmlType::kQ5_1), GgmlType::kQ8_0);
  EXPECT_EQ(ChooseTensorType("output.weight", 2048, GgmlType::kF16), GgmlType::kF16);
  EXPECT_EQ(ChooseTensorType("token_embd.weight", 2048, GgmlType::kQ5_1), GgmlType::kQ5_1);
}

TEST(TensorSelectionTest, KQuantsFallBackWhenRowsAreNotMultiplesOf256) {
  EXPECT_EQ(ChooseTensorType("blk.0.channel_mix_value.weight", 2688, GgmlType::kQ4_K),
            GgmlType::kQ5_0);
  EXPECT_EQ(ChooseTensorType("blk.0.channel_mix_value.weight", 2688, GgmlType::kQ5_K),
            GgmlType::kQ5_1);
  EXPECT_EQ(ChooseTensorType("blk.0.channel_mix_value.weight", 2688, GgmlType::kQ6_K),
            GgmlType::kQ8_0);
  EXPECT_EQ(ChooseTensorType("blk.0.time_mix_key.weight", 2560, GgmlType::kQ4_K), GgmlType::kQ4_K);
  // Neither the K-quant nor its fallback divides the row: F16.
  EXPECT_EQ(ChooseTensorType("blk.0.time_mix_key.weight", 100, GgmlType::kQ4_K), GgmlType::kF16);
  EXPECT_EQ(ChooseTensorType("blk.0.time_mix_key.weight", 100, GgmlType::kQ8_0), GgmlType::kF16);
}

TEST(TensorSelectionTest, OrdersByLayerNumberThenName) {
  EXPECT_EQ(LayerOfTensor("blk.12.attn_norm.weight"), 12);
  EXPECT_EQ(LayerOfTensor("output.weight"), -1);
  EXPECT_EQ(LayerOfTensor("blk.x.weight"), -1);
  EXPECT_TRUE(TensorOutputLess("token_embd.weight", "blk.0.attn_norm.bias"));
  EXPECT_TRUE(TensorOutputLess("output.weight", "output_norm.bias"));
  EXPECT_TRUE(TensorOutputLess("blk.2.time_mix_key.weight", "blk.10.attn_norm.bias"));
  EXPECT_TRUE(TensorOutputLess("blk.1.attn_norm.bias", "blk.1.attn_norm.weight"));
  EXPECT_FALSE(TensorOutputLess("blk.1.a", "blk.1.a"));
}

TEST(QuantizeTargetTest, AcceptsLlamaQuantizeNamesAndIds) {
  struct Case {
    const char* in;
    const char* name;
    uint32_t ftype;
    GgmlType type;
  };
  for (const Case& c :
       {Case{"Q8_0", "Q8_0", 7, GgmlType::kQ8_0}, Case{"q5_1", "Q5_1", 9, GgmlType::kQ5_1},
        Case{"Q5_0", "Q5_0", 8, GgmlType::kQ5_0}, Case{"Q4_0", "Q4_0", 2, GgmlType::kQ4_0},
        Case{"q4_1", "Q4_1", 3, GgmlType::kQ4_1}, Case{"Q6_K", "Q6_K", 18, GgmlType::kQ6_K},
        Case{"q4_k", "Q4_K_M", 15, GgmlType::kQ4_K}, Case{"Q4_K_S", "Q4_K_S", 14, GgmlType::kQ4_K},
        Case{"Q5_K", "Q5_K_M", 17, GgmlType::kQ5_K}, Case{"Q5_K_S", "Q5_K_S", 16, GgmlType::kQ5_K},
        Case{"f16", "F16", 1, GgmlType::kF16}, Case{"BF16", "BF16", 32, GgmlType::kBF16},
        Case{"F32", "F32", 0, GgmlType::kF32}, Case{"7", "Q8_0", 7, GgmlType::kQ8_0},
        Case{"15", "Q4_K_M", 15, GgmlType::kQ4_K}, Case{"0", "F32", 0, GgmlType::kF32}}) {
    absl::StatusOr<QuantizeTarget> t = ParseQuantizeTarget(c.in);
    ASSERT_TRUE(t.ok()) << c.in << ": " << t.status();
    EXPECT_EQ(t->name, c.name);
    EXPECT_EQ(t->file_type, c.ftype) << c.in;
    EXPECT_EQ(t->default_type, c.type) << c.in;
  }
}

TEST(QuantizeTargetTest, RejectsUnknownAndUnsupportedTargetsListingValidOnes) {
  for (const char* bad : {"Q9_0", "", "q8", "4", "99", "IQ2_XXS", "Q2_K", "COPY"}) {
    absl::StatusOr<QuantizeTarget> t = ParseQuantizeTarget(bad);
    ASSERT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(t.status().message().find("Q5_K_M"), std::string::npos) << t.status();
  }
}

}  // namespace
}  // namespace rwkv::engine::quant
