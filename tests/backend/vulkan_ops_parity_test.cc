// Vulkan op parity: every Stream op on the Vulkan device against the scalar CPU backend (the
// exact oracle), with the same inputs, for every weight type and edge shapes (one row, column
// tiles with remainders, float rows that are not whole 32-element chunks, strided operands,
// several sequences of different lengths). Memory around every output is checked untouched.
// Runs with the validation layer on; skips when there is no Vulkan device.
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "gtest/gtest.h"
#include "rwkv/engine/ggml_types.h"
#include "rwkv/engine/quant.h"
#include "support/vulkan_test_device.h"
#if defined(RWKV_WITH_VULKAN)
#include "backend/vulkan/vulkan_stream.h"
#endif

namespace rwkv::engine::backend {
namespace {

constexpr int64_t kGuard = 8;  // floats of guard before and after every tensor

// One backend with its stream, tensors and weights; tensors are created with the same
// contents on both backends and compared after the op.
class Side {
 public:
  explicit Side(std::unique_ptr<Device> device)
      : device_(std::move(device)), stream_(device_->CreateStream()) {}

  Device& device() { return *device_; }
  Stream& stream() { return *stream_; }

  Tensor NewTensor(int64_t rows, int64_t cols, int64_t stride, const std::vector<float>& init) {
    const uint64_t floats = static_cast<uint64_t>(rows * stride + 2 * kGuard);
    EXPECT_EQ(init.size(), floats);
    absl::StatusOr<std::unique_ptr<Buffer>> b = device_->Allocate(BufferKind::kScratch, floats * 4);
    EXPECT_TRUE(b.ok()) << b.status();
    EXPECT_TRUE(
        (*b)->Upload(0, std::span(reinterpret_cast<const uint8_t*>(init.data()), floats * 4)).ok());
    Tensor t{static_cast<float*>((*b)->base()) + kGuard, rows, cols, stride};
    buffers_.push_back(std::move(*b));
    return t;
  }

  // The whole buffer of the i-th tensor created, guards included.
  void Refill(size_t i, const std::vector<float>& values) {
    EXPECT_TRUE(buffers_[i]
                    ->Upload(0, std::span(reinterpret_cast<const uint8_t*>(values.data()),
                                          values.size() * 4))
                    .ok());
  }

  std::vector<float> Contents(size_t i) {
    std::vector<float> out(buffers_[i]->size() / 4);
    EXPECT_TRUE(buffers_[i]
                    ->Download(0, std::span(reinterpret_cast<uint8_t*>(out.data()), out.size() * 4))
                    .ok());
    return out;
  }

  WeightView NewWeight(GgmlType type, int64_t rows, int64_t cols,
                       const std::vector<uint8_t>& bytes) {
    GgufTensorInfo info;
    info.name = "test";
    info.n_dims = 2;
    info.ne = {cols, rows, 1, 1};
    info.type = type;
    info.size_bytes = bytes.size();
    info.data = bytes.data();
    absl::StatusOr<WeightView> w = device_->PrepareWeight(info);
    EXPECT_TRUE(w.ok()) << w.status();
    return *w;
  }

 private:
  std::unique_ptr<Device> device_;
  std::unique_ptr<Stream> stream_;
  std::vector<std::unique_ptr<Buffer>> buffers_;
};

std::vector<float> Random(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// Quantized bytes of `rows` rows of `cols` random values.
std::vector<uint8_t> RandomWeight(GgmlType type, int64_t rows, int64_t cols, uint32_t seed) {
  const std::vector<float> f = Random(static_cast<size_t>(rows * cols), seed, 0.5f);
  const uint64_t row_bytes = RowBytes(type, cols);
  std::vector<uint8_t> out(row_bytes * rows);
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_TRUE(QuantizeRow(type, f.data() + r * cols, out.data() + r * row_bytes, cols).ok());
  }
  return out;
}

class VulkanOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string reason;
    std::unique_ptr<Device> vk = rwkv::testing::OpenVulkanForTest(&reason);
    if (vk == nullptr) GTEST_SKIP() << reason;
    absl::StatusOr<std::unique_ptr<Device>> cpu = CreateDevice("cpu-scalar", DeviceOptions{1});
    ASSERT_TRUE(cpu.ok()) << cpu.status();
    cpu_ = std::make_unique<Side>(std::move(*cpu));
    vk_ = std::make_unique<Side>(std::move(vk));
  }
  void TearDown() override {
    EXPECT_EQ(rwkv::testing::VulkanValidationErrors(), 0) << "the validation layer reported errors";
  }

  // A tensor with the same random contents (guards included) on both sides.
  std::pair<Tensor, Tensor> Pair(int64_t rows, int64_t cols, int64_t stride, uint32_t seed) {
    const std::vector<float> init = Random(static_cast<size_t>(rows * stride + 2 * kGuard), seed);
    ++tensors_;
    return {cpu_->NewTensor(rows, cols, stride, init), vk_->NewTensor(rows, cols, stride, init)};
  }
  std::pair<WeightView, WeightView> Vector(int64_t n, uint32_t seed, float sigma = 1.0f) {
    const std::vector<float> f = Random(static_cast<size_t>(n), seed, sigma);
    vectors_.emplace_back(reinterpret_cast<const uint8_t*>(f.data()),
                          reinterpret_cast<const uint8_t*>(f.data() + n));
    const std::vector<uint8_t>& bytes = vectors_.back();
    return {cpu_->NewWeight(GgmlType::kF32, 1, n, bytes),
            vk_->NewWeight(GgmlType::kF32, 1, n, bytes)};
  }
  void Sync() {
    ASSERT_TRUE(cpu_->stream().Synchronize().ok());
    absl::Status s = vk_->stream().Synchronize();
    ASSERT_TRUE(s.ok()) << s;
  }
  // Every tensor created so far agrees within `tol`, relative to max(1, |cpu|).
  void ExpectAllClose(double tol) {
    for (size_t i = 0; i < tensors_; ++i) {
      const std::vector<float> a = cpu_->Contents(i), b = vk_->Contents(i);
      ASSERT_EQ(a.size(), b.size());
      double worst = 0;
      size_t at = 0;
      for (size_t j = 0; j < a.size(); ++j) {
        const double err = std::fabs(static_cast<double>(a[j]) - b[j]) /
                           std::max(1.0, std::fabs(static_cast<double>(a[j])));
        if (!(err <= worst)) {
          worst = std::isnan(err) ? INFINITY : err;
          at = j;
        }
      }
      EXPECT_LE(worst, tol) << "tensor " << i << " float " << at << ": cpu " << a[at] << " vulkan "
                            << b[at];
    }
  }

  std::unique_ptr<Side> cpu_, vk_;
  size_t tensors_ = 0;
  std::vector<std::vector<uint8_t>> vectors_;
};

struct MatMulCase {
  GgmlType type;
  int64_t rows, k, n;
  Epilogue epilogue;
  bool accumulate;
  // Forces the shared-memory reduction on devices whose matrix products reduce in subgroups.
  bool shared_memory = false;
};

class VulkanMatMulTest : public VulkanOpsTest, public ::testing::WithParamInterface<MatMulCase> {
 protected:
  void SetUp() override {
    if (GetParam().shared_memory) {
      setenv("RWKV_VULKAN_SUBGROUPS", "0", 1);
    } else {
      unsetenv("RWKV_VULKAN_SUBGROUPS");
    }
    VulkanOpsTest::SetUp();
  }
};

TEST_P(VulkanMatMulTest, MatchesScalarCpu) {
  const MatMulCase c = GetParam();
  const std::vector<uint8_t> bytes = RandomWeight(c.type, c.rows, c.k, 11);
  const WeightView wc = cpu_->NewWeight(c.type, c.rows, c.k, bytes);
  const WeightView wv = vk_->NewWeight(c.type, c.rows, c.k, bytes);
  auto [xc, xv] = Pair(c.n, c.k, c.k + 3, 1);
  auto [yc, yv] = Pair(c.n, c.rows, c.rows + 5, 2);
  cpu_->stream().MatMul(wc, xc, yc, c.epilogue, c.accumulate);
  vk_->stream().MatMul(wv, xv, yv, c.epilogue, c.accumulate);
  Sync();
  ExpectAllClose(2e-4);
}

std::vector<MatMulCase> MatMulCases() {
  std::vector<MatMulCase> cases;
  const GgmlType types[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ8_0,
                            GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ4_0, GgmlType::kQ4_1,
                            GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};
  for (GgmlType t : types) {
    const bool k_quant = t == GgmlType::kQ4_K || t == GgmlType::kQ5_K || t == GgmlType::kQ6_K;
    const int64_t k = k_quant ? 512 : 96;
    cases.push_back({t, 67, k, 1, Epilogue::kNone, false});        // decode: one column
    cases.push_back({t, 33, k, 11, Epilogue::kNone, true});        // a tile and a remainder
    cases.push_back({t, 1, 2 * k, 3, Epilogue::kSigmoid, false});  // one weight row
    cases.push_back({t, 70, k, 9, Epilogue::kNone, true, true});
  }
  // Float rows that are not whole chunks, and every epilogue.
  cases.push_back({GgmlType::kF32, 5, 45, 2, Epilogue::kTanh, false});
  cases.push_back({GgmlType::kF16, 7, 33, 9, Epilogue::kSilu, true});
  cases.push_back({GgmlType::kBF16, 3, 70, 1, Epilogue::kReluSquare, false});
  cases.push_back({GgmlType::kQ8_0, 130, 64, 17, Epilogue::kReluSquare, true});
  return cases;
}

std::string MatMulName(const ::testing::TestParamInfo<MatMulCase>& info) {
  const MatMulCase& c = info.param;
  return std::string(GgmlTypeName(c.type)) + "_r" + std::to_string(c.rows) + "_k" +
         std::to_string(c.k) + "_n" + std::to_string(c.n) + "_e" +
         std::to_string(static_cast<int>(c.epilogue)) + (c.accumulate ? "_acc" : "") +
         (c.shared_memory ? "_shared" : "");
}

INSTANTIATE_TEST_SUITE_P(Types, VulkanMatMulTest, ::testing::ValuesIn(MatMulCases()), MatMulName);

TEST_F(VulkanOpsTest, EmbedEveryType) {
  const GgmlType types[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ8_0,
                            GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ4_0, GgmlType::kQ4_1,
                            GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};
  const std::vector<int32_t> tokens = {3, 0, 9, 3, 1};
  uint32_t seed = 20;
  for (GgmlType t : types) {
    const int64_t cols = t == GgmlType::kF16 ? 40 : 256;
    const std::vector<uint8_t> bytes = RandomWeight(t, 10, cols, seed++);
    const WeightView wc = cpu_->NewWeight(t, 10, cols, bytes);
    const WeightView wv = vk_->NewWeight(t, 10, cols, bytes);
    auto [oc, ov] = Pair(static_cast<int64_t>(tokens.size()), cols, cols + 4, seed++);
    cpu_->stream().Embed(wc, tokens, oc);
    vk_->stream().Embed(wv, tokens, ov);
  }
  Sync();
  ExpectAllClose(0.0);  // dequantization is exact
}

TEST_F(VulkanOpsTest, NormsLerpsAndElementwise) {
  const int64_t rows = 5, cols = 96, stride = 112;
  auto [xc, xv] = Pair(rows, cols, stride, 1);
  auto [oc, ov] = Pair(rows, cols, stride, 2);
  auto [gc, gv] = Pair(rows, cols, stride, 3);
  auto [dc, dv] = Pair(rows, cols, stride, 4);
  auto [ec, ev] = Pair(rows, cols, stride, 5);
  auto [lc, lv] = Pair(rows, cols, stride, 6);
  auto [hc, hv] = Pair(3, cols, cols, 7);
  auto [w1c, w1v] = Vector(cols, 8);
  auto [b1c, b1v] = Vector(cols, 9);
  auto [mc, mv] = Vector(cols, 10);
  auto [tc, tv] = Vector(cols, 11, 0.3f);
  const std::vector<int64_t> gather = {4, 0, 4};
  for (Side* s : {cpu_.get(), vk_.get()}) {
    const bool c = s == cpu_.get();
    Stream& st = s->stream();
    st.LayerNorm(c ? xc : xv, c ? w1c : w1v, c ? b1c : b1v, 1e-5f, c ? oc : ov);
    st.LayerNorm(c ? gc : gv, c ? w1c : w1v, c ? b1c : b1v, 1e-5f, c ? gc : gv);  // in place
    st.GroupNormMul(c ? oc : ov, 32, c ? w1c : w1v, c ? b1c : b1v, 64e-5f, c ? gc : gv);
    st.Lerp(c ? xc : xv, c ? dc : dv, c ? mc : mv, nullptr, c ? ec : ev);
    const Tensor extra = c ? gc : gv;
    st.Lerp(c ? xc : xv, c ? dc : dv, c ? mc : mv, &extra, c ? lc : lv);
    st.Decay(c ? dc : dv, c ? tc : tv);
    st.MulAdd(c ? xc : xv, c ? ec : ev, c ? lc : lv);
    st.Scale(c ? ec : ev, 0.5f);
    st.GatherRows(c ? lc : lv, gather, c ? hc : hv);
  }
  Sync();
  ExpectAllClose(1e-4);
}

TEST_F(VulkanOpsTest, ReadRowsCopiesToHost) {
  auto [xc, xv] = Pair(4, 37, 40, 1);
  std::vector<float> a(2 * 37), b(2 * 37, -1.0f);
  cpu_->stream().ReadRows(xc, 1, 2, a.data());
  vk_->stream().ReadRows(xv, 1, 2, b.data());
  Sync();
  EXPECT_EQ(a, b);
}

// Token shift and WKV6 over sequences of 3, 1 and 4 rows, for head sizes 64, 32 and 8; the
// states written back by UnbindStates are compared too.
class VulkanRecurrenceTest : public VulkanOpsTest, public ::testing::WithParamInterface<int64_t> {};

TEST_P(VulkanRecurrenceTest, ShiftAndWkv6MatchScalarCpu) {
  const int64_t S = GetParam(), C = 2 * S, n_layer = 2;
  const StateShape shape{static_cast<uint32_t>(n_layer), static_cast<uint32_t>(C),
                         static_cast<uint32_t>(S)};
  const StepLayout layout{{0, 3, 4, 8}};
  const int64_t rows = layout.n_rows(), stride = C + 16;
  std::vector<RecurrentState> cpu_states, vk_states;
  for (int s = 0; s < 3; ++s) {
    RecurrentState st = RecurrentState::Zero(shape);
    std::vector<float> shift = Random(st.shift.size(), 100 + s);
    std::vector<float> wkv = Random(st.wkv.size(), 200 + s, 0.2f);
    st.shift = shift;
    st.wkv = wkv;
    cpu_states.push_back(st);
    vk_states.push_back(st);
  }
  std::vector<RecurrentState*> cp, vp;
  for (int s = 0; s < 3; ++s) {
    cp.push_back(&cpu_states[s]);
    vp.push_back(&vk_states[s]);
  }
  auto [curc, curv] = Pair(rows, C, stride, 1);
  auto [dc, dv] = Pair(rows, C, stride, 2);
  auto [rc, rv] = Pair(rows, C, stride, 3);
  auto [kc, kv] = Pair(rows, C, stride, 4);
  auto [vc, vv] = Pair(rows, C, stride, 5);
  auto [wc, wv] = Pair(rows, C, stride, 6);
  auto [yc, yv] = Pair(rows, C, stride, 7);
  auto [tc, tv] = Vector(C, 8, 0.5f);
  auto [uc, uv] = Vector(C, 9, 0.5f);
  ASSERT_TRUE(cpu_->stream().BindStates(cp, layout).ok());
  absl::Status bound = vk_->stream().BindStates(vp, layout);
  ASSERT_TRUE(bound.ok()) << bound;
  for (Side* s : {cpu_.get(), vk_.get()}) {
    const bool c = s == cpu_.get();
    Stream& st = s->stream();
    st.ShiftDelta(1, 0, c ? curc : curv, c ? dc : dv);
    st.ShiftDelta(0, 1, c ? dc : dv, c ? curc : curv);
    st.Decay(c ? wc : wv, c ? tc : tv);
    st.Wkv6(1, S, c ? rc : rv, c ? kc : kv, c ? vc : vv, c ? wc : wv, c ? uc : uv, c ? yc : yv);
  }
  ASSERT_TRUE(cpu_->stream().UnbindStates().ok());
  absl::Status unbound = vk_->stream().UnbindStates();
  ASSERT_TRUE(unbound.ok()) << unbound;
  ExpectAllClose(1e-4);
  for (int s = 0; s < 3; ++s) {
    ASSERT_EQ(cpu_states[s].shift, vk_states[s].shift) << "sequence " << s;
    double worst = 0;
    for (size_t i = 0; i < cpu_states[s].wkv.size(); ++i) {
      worst = std::max(worst,
                       std::fabs(static_cast<double>(cpu_states[s].wkv[i]) - vk_states[s].wkv[i]));
    }
    EXPECT_LE(worst, 1e-4) << "wkv state of sequence " << s;
  }
}

INSTANTIATE_TEST_SUITE_P(HeadSizes, VulkanRecurrenceTest, ::testing::Values(64, 32, 8));

// The same step shape twice with new inputs: the second step reuses the first one's command
// buffer and still computes from the new inputs (tokens, activations, states).
TEST_F(VulkanOpsTest, RepeatedStepReusesItsCommandBuffer) {
  const int64_t S = 32, C = 64;
  const StateShape shape{1, static_cast<uint32_t>(C), static_cast<uint32_t>(S)};
  const StepLayout layout{{0, 2, 3}};
  const std::vector<uint8_t> table = RandomWeight(GgmlType::kQ4_0, 6, C, 3);
  const WeightView tc = cpu_->NewWeight(GgmlType::kQ4_0, 6, C, table);
  const WeightView tv = vk_->NewWeight(GgmlType::kQ4_0, 6, C, table);
  auto [xc, xv] = Pair(3, C, C, 1);
  auto [dc, dv] = Pair(3, C, C, 2);
  auto [yc, yv] = Pair(3, C, C, 3);
  auto [uc, uv] = Vector(C, 4, 0.5f);
  std::vector<RecurrentState> cs(2, RecurrentState::Zero(shape)), vs = cs;
  std::vector<RecurrentState*> cp = {&cs[0], &cs[1]}, vp = {&vs[0], &vs[1]};
  for (int step = 0; step < 3; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const std::vector<int32_t> tokens = {1 + step, 4 - step, 2};
    // New contents for y: the step must overwrite them.
    const std::vector<float> fresh = Random(static_cast<size_t>(3 * C + 2 * kGuard), 50 + step);
    cpu_->Refill(2, fresh);
    vk_->Refill(2, fresh);
    std::vector<float> lc(3 * C), lv(3 * C);
    for (Side* s : {cpu_.get(), vk_.get()}) {
      const bool c = s == cpu_.get();
      Stream& st = s->stream();
      ASSERT_TRUE(st.BindStates(c ? cp : vp, layout).ok());
      st.Embed(c ? tc : tv, tokens, c ? xc : xv);
      st.ShiftDelta(0, 0, c ? xc : xv, c ? dc : dv);
      st.Wkv6(0, S, c ? xc : xv, c ? dc : dv, c ? xc : xv, c ? dc : dv, c ? uc : uv, c ? yc : yv);
      st.ReadRows(c ? yc : yv, 0, 3, c ? lc.data() : lv.data());
      absl::Status unbound = st.UnbindStates();
      ASSERT_TRUE(unbound.ok()) << unbound;
    }
    for (size_t i = 0; i < lc.size(); ++i) {
      ASSERT_NEAR(lc[i], lv[i], 1e-4 * std::max(1.0f, std::fabs(lc[i]))) << i;
    }
    for (int s = 0; s < 2; ++s) EXPECT_EQ(cs[s].shift, vs[s].shift);
  }
#if defined(RWKV_WITH_VULKAN)
  const auto* stream = dynamic_cast<const vulkan::VulkanStream*>(&vk_->stream());
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(stream->recorder().recorded(), 1);
  EXPECT_EQ(stream->recorder().reused(), 2);
#endif
}

TEST_F(VulkanOpsTest, RecurrentOpsWithoutStatesFail) {
  auto [xc, xv] = Pair(2, 16, 16, 1);
  vk_->stream().ShiftDelta(0, 0, xv, xv);
  EXPECT_FALSE(vk_->stream().Synchronize().ok());
}

}  // namespace
}  // namespace rwkv::engine::backend
