// F16/BF16 row conversions (docs/engine/quantization.md, "16-bit floats") through the
// QuantizeRow/DequantizeRow API.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "rwkv/engine/fp16.h"
#include "rwkv/engine/quant.h"

namespace rwkv::engine {
namespace {

uint16_t ToHalf(float f) {
  uint16_t h;
  EXPECT_TRUE(QuantizeRow(GgmlType::kF16, &f, &h, 1).ok());
  return h;
}

uint16_t ToBf16(float f) {
  uint16_t h;
  EXPECT_TRUE(QuantizeRow(GgmlType::kBF16, &f, &h, 1).ok());
  return h;
}

TEST(FloatRowTest, F16RoundsToNearestEvenKeepsSubnormalsAndOverflowsToInf) {
  EXPECT_EQ(ToHalf(1.0f), 0x3C00);
  EXPECT_EQ(ToHalf(-2.0f), 0xC000);
  EXPECT_EQ(ToHalf(65504.0f), 0x7BFF);
  EXPECT_EQ(ToHalf(65519.0f), 0x7BFF);
  EXPECT_EQ(ToHalf(65520.0f), 0x7C00);
  EXPECT_EQ(ToHalf(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(ToHalf(std::ldexp(1.0f, -25)), 0x0000);         // tie to even (0)
  EXPECT_EQ(ToHalf(std::ldexp(3.0f, -25)), 0x0002);         // tie to even (2)
  EXPECT_EQ(ToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie to even
  EXPECT_EQ(ToHalf(1.0f + std::ldexp(3.0f, -11)), 0x3C02);
  EXPECT_EQ(ToHalf(-0.0f), 0x8000);
  EXPECT_EQ(ToHalf(NAN), 0x7E00);
  EXPECT_EQ(ToHalf(-NAN), 0xFE00);
}

TEST(FloatRowTest, EveryNonNanHalfRoundTripsExactly) {
  std::vector<uint16_t> halves;
  for (uint32_t h = 0; h < 65536; ++h) {
    if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0) continue;  // NaN payloads
    halves.push_back(static_cast<uint16_t>(h));
  }
  const int64_t n = static_cast<int64_t>(halves.size());
  std::vector<float> f(halves.size());
  ASSERT_TRUE(DequantizeRow(GgmlType::kF16, halves.data(), f.data(), n).ok());
  std::vector<uint16_t> back(halves.size());
  ASSERT_TRUE(QuantizeRow(GgmlType::kF16, f.data(), back.data(), n).ok());
  EXPECT_EQ(back, halves);
  EXPECT_EQ(f[0x3C00], 1.0f);
  EXPECT_EQ(f[1], std::ldexp(1.0f, -24));
}

TEST(FloatRowTest, Bf16RoundsToNearestEvenAndQuietsNan) {
  EXPECT_EQ(ToBf16(1.0f), 0x3F80);
  EXPECT_EQ(ToBf16(BitsToFloat(0x3F808000)), 0x3F80);  // tie, even stays
  EXPECT_EQ(ToBf16(BitsToFloat(0x3F818000)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(ToBf16(BitsToFloat(0x3F808001)), 0x3F81);
  EXPECT_EQ(ToBf16(BitsToFloat(0x7F800001)), 0x7FC0);  // signalling NaN becomes quiet
  EXPECT_EQ(ToBf16(INFINITY), 0x7F80);
  const uint16_t in[3] = {0x3F80, 0xC040, 0x0001};
  float out[3];
  ASSERT_TRUE(DequantizeRow(GgmlType::kBF16, in, out, 3).ok());
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -3.0f);
  EXPECT_EQ(FloatBits(out[2]), 0x00010000u);
}

TEST(FloatRowTest, F32RowsAreCopiedBitForBit) {
  const float in[4] = {1.5f, -0.0f, NAN, 3e38f};
  float out[4];
  ASSERT_TRUE(QuantizeRow(GgmlType::kF32, in, out, 4).ok());
  EXPECT_EQ(std::memcmp(in, out, sizeof(in)), 0);
}

TEST(FloatRowTest, UnalignedBuffersAreAccepted) {
  std::vector<uint8_t> buf(2 * 8 + 1);
  const float in[8] = {1, 2, 3, 4, -1, -2, 0.5f, 0.25f};
  ASSERT_TRUE(QuantizeRow(GgmlType::kF16, in, buf.data() + 1, 8).ok());
  float out[8];
  ASSERT_TRUE(DequantizeRow(GgmlType::kF16, buf.data() + 1, out, 8).ok());
  EXPECT_EQ(std::memcmp(in, out, sizeof(in)), 0);
}

}  // namespace
}  // namespace rwkv::engine
