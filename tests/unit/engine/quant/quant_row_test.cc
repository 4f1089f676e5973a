// Round-trip error bounds, block layouts and argument checks of the scalar row codecs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "quant/blocks.h"
#include "quant/quant_legacy.h"
#include "rwkv/engine/fp16.h"
#include "rwkv/engine/quant.h"

namespace rwkv::engine {
namespace {

using quant::BlockQ4_0;
using quant::BlockQ4_1;
using quant::BlockQ4_K;
using quant::BlockQ5_0;
using quant::BlockQ5_1;
using quant::BlockQ5_K;
using quant::BlockQ6_K;
using quant::BlockQ8_0;

std::vector<float> Gaussian(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<float> RoundTrip(GgmlType type, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(RowBytes(type, n));
  EXPECT_TRUE(QuantizeRow(type, x.data(), q.data(), n).ok());
  std::vector<float> y(x.size());
  EXPECT_TRUE(DequantizeRow(type, q.data(), y.data(), n).ok());
  return y;
}

double RelativeRmse(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (x[i] - y[i]) * static_cast<double>(x[i] - y[i]);
    ref += x[i] * static_cast<double>(x[i]);
  }
  return std::sqrt(err / ref);
}

// Largest |error| over each 32-block divided by the block's step, for the legacy types.
double WorstErrorInSteps(GgmlType type, const std::vector<float>& x, const std::vector<float>& y) {
  double worst = 0;
  for (size_t b = 0; b < x.size(); b += 32) {
    float mn = x[b], mx = x[b], amax = 0;
    for (size_t j = b; j < b + 32; ++j) {
      mn = std::min(mn, x[j]);
      mx = std::max(mx, x[j]);
      amax = std::max(amax, std::fabs(x[j]));
    }
    double step = 0;
    switch (type) {
      case GgmlType::kQ8_0:
        step = amax / 127.0;
        break;
      case GgmlType::kQ4_0:
        step = amax / 8.0;
        break;
      case GgmlType::kQ5_0:
        step = amax / 16.0;
        break;
      case GgmlType::kQ4_1:
        step = (mx - mn) / 15.0;
        break;
      case GgmlType::kQ5_1:
        step = (mx - mn) / 31.0;
        break;
      default:
        ADD_FAILURE() << "not a legacy type";
    }
    for (size_t j = b; j < b + 32; ++j) worst = std::max(worst, std::fabs(x[j] - y[j]) / step);
  }
  return worst;
}

TEST(QuantRowTest, LegacyTypesStayWithinHalfAStepPlusScaleRounding) {
  const std::vector<float> x = Gaussian(32 * 512, 7);
  // Half a step from rounding plus the f16 rounding of d (and m) over up to 31 steps.
  EXPECT_LE(WorstErrorInSteps(GgmlType::kQ8_0, x, RoundTrip(GgmlType::kQ8_0, x)), 0.57);
  EXPECT_LE(WorstErrorInSteps(GgmlType::kQ4_1, x, RoundTrip(GgmlType::kQ4_1, x)), 0.52);
  EXPECT_LE(WorstErrorInSteps(GgmlType::kQ5_1, x, RoundTrip(GgmlType::kQ5_1, x)), 0.53);
  // Symmetric types clamp the far end of the range to 15 (31), a whole step.
  EXPECT_LE(WorstErrorInSteps(GgmlType::kQ4_0, x, RoundTrip(GgmlType::kQ4_0, x)), 1.01);
  EXPECT_LE(WorstErrorInSteps(GgmlType::kQ5_0, x, RoundTrip(GgmlType::kQ5_0, x)), 1.01);
}

TEST(QuantRowTest, RelativeErrorShrinksWithBitsPerWeight) {
  const std::vector<float> x = Gaussian(256 * 64, 11, 0.05f);
  struct Case {
    GgmlType type;
    double max_rmse;
  };
  // Gaussian data; limits are about 1.25x the measured error of the reference algorithms
  // (q4_0 0.086, q4_1 0.078, q5_0 0.043, q5_1 0.038, q8_0 0.0053, q4_K 0.072, q5_K 0.036,
  // q6_K 0.018, q8_K 0.0070), so a broken search or packing shows up.
  for (const Case& c :
       {Case{GgmlType::kQ4_0, 0.11}, Case{GgmlType::kQ4_1, 0.10}, Case{GgmlType::kQ5_0, 0.055},
        Case{GgmlType::kQ5_1, 0.048}, Case{GgmlType::kQ8_0, 0.0068}, Case{GgmlType::kQ8_1, 0.0068},
        Case{GgmlType::kQ4_K, 0.09}, Case{GgmlType::kQ5_K, 0.045}, Case{GgmlType::kQ6_K, 0.023},
        Case{GgmlType::kQ8_K, 0.009}}) {
    const double rmse = RelativeRmse(x, RoundTrip(c.type, x));
    EXPECT_LT(rmse, c.max_rmse) << GgmlTypeName(c.type);
    EXPECT_GT(rmse, 0.0) << GgmlTypeName(c.type);
  }
}

TEST(QuantRowTest, ZeroAndConstantBlocksRoundTripExactly) {
  for (GgmlType t : {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1,
                     GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    const std::vector<float> zeros(256, 0.0f);
    EXPECT_EQ(RoundTrip(t, zeros), zeros) << GgmlTypeName(t);
  }
  const std::vector<float> ones(256, 1.0f);
  for (GgmlType t : {GgmlType::kQ4_1, GgmlType::kQ5_1}) {  // d = 0, m = 1 exactly
    EXPECT_EQ(RoundTrip(t, ones), ones) << GgmlTypeName(t);
  }
}

TEST(QuantRowTest, Q8_0BlockLayoutIsScaleThenSignedBytes) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16) * 0.25f;
  BlockQ8_0 b;
  ASSERT_TRUE(QuantizeRow(GgmlType::kQ8_0, x.data(), &b, 32).ok());
  EXPECT_EQ(b.d, Fp32ToFp16(4.0f / 127.0f));
  EXPECT_EQ(b.qs[0], -127);
  EXPECT_EQ(b.qs[1], -119);  // roundf(-15 * 7.9375) = roundf(-119.0625)
  EXPECT_EQ(b.qs[16], 0);
  EXPECT_EQ(b.qs[31], 119);
}

TEST(QuantRowTest, Q4_0PacksElementJLowAndJPlus16High) {
  std::vector<float> x(32);
  for (int j = 0; j < 16; ++j) {
    x[j] = static_cast<float>(j - 8);  // first max |x| is -8 -> d = 1
    x[j + 16] = static_cast<float>(7 - j);
  }
  BlockQ4_0 b;
  ASSERT_TRUE(QuantizeRow(GgmlType::kQ4_0, x.data(), &b, 32).ok());
  EXPECT_EQ(b.d, Fp32ToFp16(1.0f));
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b.qs[j], j | ((15 - j) << 4)) << j;
  EXPECT_EQ(RoundTrip(GgmlType::kQ4_0, x), x);
}

TEST(QuantRowTest, Q4_1StoresScaleMinAndNibbles) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j % 16 + 1);
  BlockQ4_1 b;
  ASSERT_TRUE(QuantizeRow(GgmlType::kQ4_1, x.data(), &b, 32).ok());
  EXPECT_EQ(b.d, Fp32ToFp16(1.0f));
  EXPECT_EQ(b.m, Fp32ToFp16(1.0f));
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b.qs[j], j | (j << 4)) << j;
  EXPECT_EQ(RoundTrip(GgmlType::kQ4_1, x), x);
}

TEST(QuantRowTest, Q5TypesPutFifthBitsInLittleEndianQh) {
  std::vector<float> x0(32), x1(32);
  for (int j = 0; j < 32; ++j) {
    x0[j] = static_cast<float>(j - 16);  // Q5_0: d = -16 / -16 = 1, q = j
    x1[j] = static_cast<float>(j + 2);   // Q5_1: d = 1, m = 2, q = j
  }
  BlockQ5_0 b0;
  BlockQ5_1 b1;
  ASSERT_TRUE(QuantizeRow(GgmlType::kQ5_0, x0.data(), &b0, 32).ok());
  ASSERT_TRUE(QuantizeRow(GgmlType::kQ5_1, x1.data(), &b1, 32).ok());
  const uint8_t qh[4] = {0x00, 0x00, 0xFF, 0xFF};  // elements 16..31 have bit 4 set
  EXPECT_EQ(std::memcmp(b0.qh, qh, 4), 0);
  EXPECT_EQ(std::memcmp(b1.qh, qh, 4), 0);
  EXPECT_EQ(b0.d, Fp32ToFp16(1.0f));
  EXPECT_EQ(b1.m, Fp32ToFp16(2.0f));
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(b0.qs[j], j | (j << 4)) << j;
    EXPECT_EQ(b1.qs[j], j | (j << 4)) << j;
  }
  EXPECT_EQ(RoundTrip(GgmlType::kQ5_0, x0), x0);
  EXPECT_EQ(RoundTrip(GgmlType::kQ5_1, x1), x1);
}

TEST(QuantRowTest, FusedAndUnfusedQ4_0RoundDifferentlyOnAKnownBlock) {
  // x[1]·id lies just below 4.5 in exact arithmetic; rounding the product first lifts the
  // sum to 14.0, the fused form stays below it. llama-quantize rounds twice (its reference
  // quantizers are built without -march flags), and so does QuantizeRow.
  std::vector<float> x(32, 0.0f);
  x[0] = -0x1.01097cp+0f;
  x[1] = 0x1.616d08p-1f;
  BlockQ4_0 fused, unfused;
  ASSERT_TRUE(QuantizeRowWith(GgmlType::kQ4_0, x.data(), &fused, 32, FmaMode::kFused).ok());
  ASSERT_TRUE(QuantizeRowWith(GgmlType::kQ4_0, x.data(), &unfused, 32, FmaMode::kUnfused).ok());
  EXPECT_EQ(fused.qs[1] & 0xF, 13);
  EXPECT_EQ(unfused.qs[1] & 0xF, 14);
  BlockQ4_0 dflt;
  ASSERT_TRUE(QuantizeRow(GgmlType::kQ4_0, x.data(), &dflt, 32).ok());
  EXPECT_EQ(std::memcmp(&dflt, &unfused, sizeof(dflt)), 0);
}

// The level of every legacy type, recomputed here as llama.cpp's reference quantizers do on
// x86-64 (product stored to a float, then the offset added: two roundings), must be what
// QuantizeRow writes — on rows chosen so that many levels sit next to a rounding boundary.
TEST(QuantRowTest, LegacyLevelsAreRoundedTwiceAsLlamaQuantizeDoes) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> scale(0.5f, 2.0f);
  std::uniform_int_distribution<int> ulps(-2, 2);
  int differs_from_fused = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    for (GgmlType type : {GgmlType::kQ4_0, GgmlType::kQ5_0}) {
      const bool q5 = type == GgmlType::kQ5_0;
      const float half = q5 ? 16.0f : 8.0f;
      // x[0] sets the scale; every other element sits a few ulps from a level's midpoint.
      std::vector<float> x(32);
      x[0] = (trial % 2 ? 1.0f : -1.0f) * scale(rng);
      const float step = std::fabs(x[0]) / half;
      std::uniform_int_distribution<int> level(-static_cast<int>(half) + 1,
                                               static_cast<int>(half) - 2);
      for (int j = 1; j < 32; ++j) {
        float v = (static_cast<float>(level(rng)) + 0.5f) * step;
        for (int k = ulps(rng); k != 0; k += k > 0 ? -1 : 1) {
          v = std::nextafter(v, k > 0 ? 1e9f : -1e9f);
        }
        x[j] = v;
      }
      float amax = 0.0f, max = 0.0f;
      for (float v : x) {
        if (amax < std::fabs(v)) {
          amax = std::fabs(v);
          max = v;
        }
      }
      const float d = max / -half;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      std::vector<uint8_t> got(RowBytes(type, 32)), fused(RowBytes(type, 32));
      ASSERT_TRUE(QuantizeRow(type, x.data(), got.data(), 32).ok());
      ASSERT_TRUE(QuantizeRowWith(type, x.data(), fused.data(), 32, FmaMode::kFused).ok());
      if (got != fused) ++differs_from_fused;
      std::vector<float> levels(32);
      ASSERT_TRUE(DequantizeRow(type, got.data(), levels.data(), 32).ok());
      const float dh = Fp16ToFp32(Fp32ToFp16(d));
      for (int j = 0; j < 32; ++j) {
        volatile float product = x[j] * id;  // stored: its own rounding
        const float sum = product + (half + 0.5f);
        const int want = std::min(static_cast<int>(2 * half) - 1, static_cast<int>(sum));
        EXPECT_EQ(levels[j], (static_cast<float>(want) - half) * dh)
            << (q5 ? "Q5_0" : "Q4_0") << " trial " << trial << " element " << j;
      }
    }
  }
  // The rows above must reach the boundary cases where the two roundings matter.
  EXPECT_GT(differs_from_fused, 0);
}

// Element e of a Q4_K/Q5_K block uses sub-block e/32; pack 6-bit scales/mins per the spec.
void PackScaleMin(uint8_t* s, const int* sc, const int* m) {
  std::memset(s, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      s[j] = static_cast<uint8_t>(sc[j]);
      s[j + 4] = static_cast<uint8_t>(m[j]);
    } else {
      s[j + 4] = static_cast<uint8_t>((sc[j] & 15) | ((m[j] & 15) << 4));
      s[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      s[j] |= static_cast<uint8_t>((m[j] >> 4) << 6);
    }
  }
}

TEST(QuantRowTest, Q4_KAndQ5_KDequantizeThePackedLayout) {
  const int sc[8] = {1, 2, 3, 17, 33, 45, 62, 63};
  const int m[8] = {63, 5, 0, 20, 16, 48, 31, 1};
  BlockQ4_K b4{};
  BlockQ5_K b5{};
  b4.d = b5.d = Fp32ToFp16(0.5f);
  b4.dmin = b5.dmin = Fp32ToFp16(0.25f);
  PackScaleMin(b4.scales, sc, m);
  PackScaleMin(b5.scales, sc, m);
  auto q_of = [](int e) { return (e * 7 + 3) % 32; };
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const int lo = q_of(64 * c + l), hi = q_of(64 * c + 32 + l);
      b4.qs[32 * c + l] = static_cast<uint8_t>((lo & 15) | ((hi & 15) << 4));
      b5.qs[32 * c + l] = b4.qs[32 * c + l];
      b5.qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
    }
  }
  std::vector<float> y4(256), y5(256);
  ASSERT_TRUE(DequantizeRow(GgmlType::kQ4_K, &b4, y4.data(), 256).ok());
  ASSERT_TRUE(DequantizeRow(GgmlType::kQ5_K, &b5, y5.data(), 256).ok());
  for (int e = 0; e < 256; ++e) {
    const int j = e / 32;
    EXPECT_EQ(y4[e], 0.5f * sc[j] * (q_of(e) & 15) - 0.25f * m[j]) << e;
    EXPECT_EQ(y5[e], 0.5f * sc[j] * q_of(e) - 0.25f * m[j]) << e;
  }
}

TEST(QuantRowTest, Q6_KDequantizesThePackedLayout) {
  BlockQ6_K b{};
  b.d = Fp32ToFp16(0.125f);
  for (int k = 0; k < 16; ++k) b.scales[k] = static_cast<int8_t>(k % 2 ? -(k + 1) : k + 1);
  auto q_of = [](int e) { return (e * 5 + 1) % 64; };
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const int e0 = 128 * h + l, e1 = e0 + 32, e2 = e0 + 64, e3 = e0 + 96;
      b.ql[64 * h + l] = static_cast<uint8_t>((q_of(e0) & 15) | ((q_of(e2) & 15) << 4));
      b.ql[64 * h + 32 + l] = static_cast<uint8_t>((q_of(e1) & 15) | ((q_of(e3) & 15) << 4));
      b.qh[32 * h + l] = static_cast<uint8_t>((q_of(e0) >> 4) | ((q_of(e1) >> 4) << 2) |
                                              ((q_of(e2) >> 4) << 4) | ((q_of(e3) >> 4) << 6));
    }
  }
  std::vector<float> y(256);
  ASSERT_TRUE(DequantizeRow(GgmlType::kQ6_K, &b, y.data(), 256).ok());
  for (int e = 0; e < 256; ++e) {
    EXPECT_EQ(y[e], 0.125f * b.scales[e / 16] * (q_of(e) - 32)) << e;
  }
}

TEST(QuantRowTest, Q6_KQuantizerUsesFullInt8ScaleRange) {
  const std::vector<float> x = Gaussian(256, 3);
  BlockQ6_K b;
  ASSERT_TRUE(QuantizeRow(GgmlType::kQ6_K, x.data(), &b, 256).ok());
  int max_abs = 0;
  for (int8_t s : b.scales) max_abs = std::max(max_abs, std::abs(static_cast<int>(s)));
  EXPECT_GE(max_abs, 127);  // the largest sub-block scale maps to ±128 (clamped to 127)
}

TEST(QuantRowTest, RejectsPartialBlocksAndUnsupportedTypes) {
  std::vector<float> x(64, 1.0f);
  std::vector<uint8_t> buf(1024);
  EXPECT_EQ(QuantizeRow(GgmlType::kQ8_0, x.data(), buf.data(), 33).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QuantizeRow(GgmlType::kQ6_K, x.data(), buf.data(), 64).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DequantizeRow(GgmlType::kIQ2_XXS, buf.data(), x.data(), 256).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DequantizeRow(static_cast<GgmlType>(4), buf.data(), x.data(), 32).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DequantizeRow(GgmlType::kF32, buf.data(), x.data(), -1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(IsSupportedType(GgmlType::kQ2_K));
  EXPECT_TRUE(CanQuantizeTo(GgmlType::kQ6_K));
  EXPECT_TRUE(IsQuantizedType(GgmlType::kQ5_1));
  EXPECT_FALSE(IsQuantizedType(GgmlType::kBF16));
}

TEST(QuantRowTest, NonFiniteInputDoesNotCrash) {
  std::vector<float> x = Gaussian(256, 5);
  x[3] = NAN;
  x[40] = INFINITY;
  x[41] = -INFINITY;
  std::vector<uint8_t> buf(RowBytes(GgmlType::kQ8_K, 256));
  for (GgmlType t :
       {GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ8_0,
        GgmlType::kQ8_1, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K, GgmlType::kQ8_K}) {
    EXPECT_TRUE(QuantizeRow(t, x.data(), buf.data(), 256).ok()) << GgmlTypeName(t);
  }
}

}  // namespace
}  // namespace rwkv::engine

namespace rwkv::engine {
namespace {

TEST(QuantRowTest, InlineRoundingMatchesRoundf) {
  for (float v : {0.0f, -0.0f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 0.49999997f, -0.49999997f, 126.5f,
                  -127.49999f, 127.0f, 1e-30f}) {
    EXPECT_EQ(quant::RoundHalfAwayToInt(v), static_cast<int>(std::round(v))) << v;
  }
  // Every 61st float in [-256, 256].
  for (uint32_t bits = 0; bits <= FloatBits(256.0f); bits += 61) {
    for (float v : {BitsToFloat(bits), -BitsToFloat(bits)}) {
      ASSERT_EQ(quant::RoundHalfAwayToInt(v), static_cast<int>(std::round(v))) << v;
    }
  }
}

}  // namespace
}  // namespace rwkv::engine
