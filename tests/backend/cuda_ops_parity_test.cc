// Every op of the CUDA backend against the scalar CPU backend, through the backend
// interface: matrix products for every weight type on both GPU paths (mat-vec below 16 rows of
// x, the tensor-core tile kernel from there, with and without a split of the reduced
// dimension), with row counts that are not multiples of the tiles, tails of float rows,
// unaligned strides, epilogues and accumulation;
// the norms, shift, lerp, decay, WKV6 (several sequences and head sizes), gathers and reads.
// Skips with the reason when the build has no CUDA backend or the machine no GPU.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "gtest/gtest.h"
#include "rwkv/engine/quant.h"

namespace rwkv::engine::backend {
namespace {

struct Side {
  std::unique_ptr<Device> device;
  std::unique_ptr<Stream> stream;
  std::vector<std::unique_ptr<Buffer>> buffers;
  // Host bytes of prepared weights: the CPU device points into them.
  std::vector<std::unique_ptr<std::vector<uint8_t>>> weight_bytes;

  Tensor Upload(const std::vector<float>& host, int64_t rows, int64_t cols, int64_t stride) {
    auto b = device->Allocate(BufferKind::kScratch, static_cast<uint64_t>(rows * stride) * 4);
    EXPECT_TRUE(b.ok()) << b.status();
    EXPECT_TRUE((*b)->Upload(0, {reinterpret_cast<const uint8_t*>(host.data()),
                                 static_cast<size_t>(rows * stride) * 4})
                    .ok());
    Tensor t{static_cast<float*>((*b)->base()), rows, cols, stride};
    buffers.push_back(std::move(*b));
    return t;
  }
  std::vector<float> Download(const Tensor& t) {
    EXPECT_TRUE(stream->Synchronize().ok());
    for (auto& b : buffers) {
      if (b->base() == t.data) {
        std::vector<float> out(static_cast<size_t>(t.rows * t.stride));
        EXPECT_TRUE(b->Download(0, {reinterpret_cast<uint8_t*>(out.data()), out.size() * 4}).ok());
        return out;
      }
    }
    ADD_FAILURE() << "unknown tensor";
    return {};
  }
  WeightView Weight(GgmlType type, int64_t rows, int64_t cols, const std::vector<uint8_t>& bytes) {
    GgufTensorInfo t;
    t.name = "w";
    t.n_dims = 2;
    t.ne = {cols, rows, 1, 1};
    t.type = type;
    t.size_bytes = bytes.size();
    t.data = bytes.data();
    auto w = device->PrepareWeight(t);
    EXPECT_TRUE(w.ok()) << w.status();
    return *w;
  }
  WeightView Vector(const std::vector<float>& v) {
    weight_bytes.push_back(std::make_unique<std::vector<uint8_t>>(v.size() * 4));
    std::memcpy(weight_bytes.back()->data(), v.data(), v.size() * 4);
    return Weight(GgmlType::kF32, 1, static_cast<int64_t>(v.size()), *weight_bytes.back());
  }
};

class CudaParity : public ::testing::Test {
 protected:
  void SetUp() override {
    auto gpu = CreateDevice("cuda", DeviceOptions{});
    if (!gpu.ok()) GTEST_SKIP() << "no CUDA device: " << gpu.status().message();
    gpu_.device = std::move(*gpu);
    cpu_.device = *CreateDevice("cpu-scalar", DeviceOptions{.threads = 2});
    gpu_.stream = gpu_.device->CreateStream();
    cpu_.stream = cpu_.device->CreateStream();
  }

  std::vector<float> Random(size_t n, float sigma, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
  }

  // Max of |a - b| / max(1, |a|) over the cols of every row.
  static double MaxRelErr(const std::vector<float>& a, const std::vector<float>& b, int64_t rows,
                          int64_t cols, int64_t stride) {
    double m = 0;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const double x = a[r * stride + c], y = b[r * stride + c];
        m = std::max(m, std::fabs(x - y) / std::max(1.0, std::fabs(x)));
      }
    }
    return m;
  }

  Side cpu_, gpu_;
};

struct MatCase {
  GgmlType type;
  int64_t rows, k, n;
  Epilogue epilogue;
  bool accumulate;
};

void PrintTo(const MatCase& c, std::ostream* os) {
  *os << GgmlTypeName(c.type) << " " << c.rows << "x" << c.k << " n=" << c.n;
}

class CudaMatMulParity : public CudaParity, public ::testing::WithParamInterface<MatCase> {};

TEST_P(CudaMatMulParity, MatchesScalarCpu) {
  const MatCase& c = GetParam();
  const std::vector<float> wf = Random(static_cast<size_t>(c.rows * c.k), 0.3f, 11);
  const uint64_t row_bytes = RowBytes(c.type, c.k);
  std::vector<uint8_t> wq(row_bytes * c.rows);
  for (int64_t r = 0; r < c.rows; ++r) {
    ASSERT_TRUE(QuantizeRow(c.type, wf.data() + r * c.k, wq.data() + r * row_bytes, c.k).ok());
  }
  const int64_t xs = c.k + 3, ys = c.rows + 5;
  const std::vector<float> x = Random(static_cast<size_t>(c.n * xs), 1.0f, 12);
  const std::vector<float> y0 = Random(static_cast<size_t>(c.n * ys), 1.0f, 13);
  std::vector<float> out[2];
  Side* sides[2] = {&cpu_, &gpu_};
  for (int i = 0; i < 2; ++i) {
    Side& s = *sides[i];
    const WeightView w = s.Weight(c.type, c.rows, c.k, wq);
    const Tensor xt = s.Upload(x, c.n, c.k, xs);
    const Tensor yt = s.Upload(y0, c.n, c.rows, ys);
    s.stream->MatMul(w, xt, yt, c.epilogue, c.accumulate);
    out[i] = s.Download(yt);
    ASSERT_TRUE(s.stream->Synchronize().ok());
  }
  EXPECT_LE(MaxRelErr(out[0], out[1], c.n, c.rows, ys), 1e-3);
  // Padding columns between rows are never written.
  for (int64_t r = 0; r < c.n; ++r) {
    for (int64_t col = c.rows; col < ys; ++col) ASSERT_EQ(out[1][r * ys + col], y0[r * ys + col]);
  }
}

std::vector<MatCase> MatCases() {
  std::vector<MatCase> cases;
  const GgmlType types[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ8_0,
                            GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ4_0, GgmlType::kQ4_1,
                            GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};
  int i = 0;
  for (GgmlType t : types) {
    const bool k_quant = t == GgmlType::kQ4_K || t == GgmlType::kQ5_K || t == GgmlType::kQ6_K;
    const int64_t k = k_quant ? 512 : 96;
    const Epilogue e = static_cast<Epilogue>(i % 5);
    cases.push_back({t, 37, k, 1, e, false});
    cases.push_back({t, 130, k, 7, Epilogue::kNone, true});
    cases.push_back({t, 133, k, 16, e, i % 2 == 0});
    cases.push_back({t, 45, k * 2, 70, Epilogue::kNone, false});
    cases.push_back({t, 67, k, 131, e, i % 2 == 1});
    ++i;
  }
  // Float rows whose length is not a multiple of 8 or 32 (mat-vec tails, no tile kernel).
  cases.push_back({GgmlType::kF32, 9, 100, 3, Epilogue::kNone, false});
  cases.push_back({GgmlType::kF16, 9, 100, 20, Epilogue::kTanh, false});
  cases.push_back({GgmlType::kBF16, 5, 36, 33, Epilogue::kSigmoid, true});
  // Long rows on the mat-vec kernel: several warps per weight row, the unrolled loads, tails.
  cases.push_back({GgmlType::kQ8_0, 37, 2048, 1, Epilogue::kNone, false});
  cases.push_back({GgmlType::kF16, 300, 4104, 2, Epilogue::kSilu, true});
  cases.push_back({GgmlType::kF32, 20, 1030, 3, Epilogue::kTanh, false});
  cases.push_back({GgmlType::kQ4_K, 40, 2048, 5, Epilogue::kNone, true});
  // Few output tiles over a long reduced dimension: the split tile product.
  cases.push_back({GgmlType::kQ8_0, 70, 1024, 20, Epilogue::kReluSquare, false});
  cases.push_back({GgmlType::kF16, 70, 1024, 64, Epilogue::kSilu, true});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllTypes, CudaMatMulParity, ::testing::ValuesIn(MatCases()));

TEST_F(CudaParity, RowOpsMatchScalarCpu) {
  const int64_t rows = 5, cols = 192, stride = 200, group = 64;
  const std::vector<float> a = Random(rows * stride, 2.0f, 1), b = Random(rows * stride, 1.0f, 2);
  const std::vector<float> c = Random(rows * stride, 0.5f, 3);
  const std::vector<float> w = Random(cols, 1.0f, 4), bias = Random(cols, 1.0f, 5);
  const std::vector<float> decay = Random(cols, 0.5f, 6);
  const std::vector<int64_t> gather = {4, 0, 2};
  std::vector<std::vector<float>> results[2];
  std::vector<float> read[2];
  Side* sides[2] = {&cpu_, &gpu_};
  for (int i = 0; i < 2; ++i) {
    Side& s = *sides[i];
    const Tensor ta = s.Upload(a, rows, cols, stride), tb = s.Upload(b, rows, cols, stride);
    const Tensor tc = s.Upload(c, rows, cols, stride);
    const Tensor t1 = s.Upload(a, rows, cols, stride), t2 = s.Upload(b, rows, cols, stride);
    const Tensor t3 = s.Upload(c, rows, cols, stride), t4 = s.Upload(c, rows, cols, stride);
    const Tensor t5 = s.Upload(a, rows, cols, stride), t6 = s.Upload(a, 3, cols, stride);
    const WeightView vw = s.Vector(w), vb = s.Vector(bias), vd = s.Vector(decay);
    s.stream->LayerNorm(ta, vw, vb, 1e-5f, t1);
    s.stream->GroupNormMul(t2, group, vw, vb, 1e-5f, tc);
    s.stream->Lerp(ta, tb, vw, &tc, t3);
    s.stream->Lerp(ta, tb, vw, nullptr, t4);
    s.stream->Decay(t4, vd);
    s.stream->MulAdd(t5, tb, tc);
    s.stream->Scale(t5, 0.5f);
    s.stream->GatherRows(ta, gather, t6);
    read[i].resize(2 * cols);
    s.stream->ReadRows(t1, 2, 2, read[i].data());
    ASSERT_TRUE(s.stream->Synchronize().ok());
    for (const Tensor& t : {t1, t2, t3, t4, t5}) results[i].push_back(s.Download(t));
    results[i].push_back(s.Download(t6));
  }
  const char* names[] = {"layer norm", "group norm", "lerp extra", "decay", "mul add", "gather"};
  for (size_t j = 0; j < results[0].size(); ++j) {
    const int64_t n = j + 1 == results[0].size() ? 3 : rows;
    EXPECT_LE(MaxRelErr(results[0][j], results[1][j], n, cols, stride), 1e-5) << names[j];
  }
  EXPECT_LE(MaxRelErr(read[0], read[1], 2, cols, cols), 1e-5) << "read rows";
}

TEST_F(CudaParity, EmbedMatchesScalarCpu) {
  for (GgmlType type : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16, GgmlType::kQ8_0,
                        GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ4_0, GgmlType::kQ4_1,
                        GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    const int64_t vocab = 50, cols = 256;
    const std::vector<float> table = Random(vocab * cols, 1.0f, 9);
    const uint64_t row_bytes = RowBytes(type, cols);
    std::vector<uint8_t> q(row_bytes * vocab);
    for (int64_t r = 0; r < vocab; ++r) {
      ASSERT_TRUE(QuantizeRow(type, table.data() + r * cols, q.data() + r * row_bytes, cols).ok());
    }
    const std::vector<int32_t> tokens = {3, 49, 0, 3, 17};
    std::vector<float> out[2];
    Side* sides[2] = {&cpu_, &gpu_};
    for (int i = 0; i < 2; ++i) {
      Side& s = *sides[i];
      const WeightView w = s.Weight(type, vocab, cols, q);
      const Tensor t = s.Upload(std::vector<float>(5 * cols), 5, cols, cols);
      s.stream->Embed(w, tokens, t);
      out[i] = s.Download(t);
    }
    EXPECT_EQ(out[0], out[1]) << GgmlTypeName(type);
  }
}

// Token shift and WKV6 over three sequences of 1, 4 and 2 rows, for several head sizes.
TEST_F(CudaParity, ShiftAndWkvMatchScalarCpu) {
  for (int64_t head_size : {32, 64, 128, 48}) {
    const int64_t heads = 2, C = heads * head_size, rows = 7, layers = 2;
    const StateShape shape{static_cast<uint32_t>(layers), static_cast<uint32_t>(C),
                           static_cast<uint32_t>(head_size)};
    StepLayout layout{{0, 1, 5, 7}};
    std::vector<RecurrentState> states[2];
    for (int i = 0; i < 2; ++i) {
      for (int s = 0; s < 3; ++s) {
        RecurrentState st = RecurrentState::Zero(shape);
        st.shift = Random(st.shift.size(), 1.0f, 20 + s);
        st.wkv = Random(st.wkv.size(), 0.5f, 30 + s);
        states[i].push_back(std::move(st));
      }
    }
    const std::vector<float> x = Random(rows * C, 1.0f, 40), r = Random(rows * C, 1.0f, 41);
    const std::vector<float> k = Random(rows * C, 1.0f, 42), v = Random(rows * C, 1.0f, 43);
    std::vector<float> w = Random(rows * C, 1.0f, 44);
    for (float& e : w) e = std::exp(-std::exp(e * 0.5f));
    const std::vector<float> u = Random(C, 0.5f, 45);
    std::vector<float> delta[2], y[2];
    Side* sides[2] = {&cpu_, &gpu_};
    for (int i = 0; i < 2; ++i) {
      Side& s = *sides[i];
      std::vector<RecurrentState*> ptrs;
      for (RecurrentState& st : states[i]) ptrs.push_back(&st);
      ASSERT_TRUE(s.stream->BindStates(ptrs, layout).ok());
      const Tensor tx = s.Upload(x, rows, C, C), td = s.Upload(x, rows, C, C);
      const Tensor tr = s.Upload(r, rows, C, C), tk = s.Upload(k, rows, C, C);
      const Tensor tv = s.Upload(v, rows, C, C), tw = s.Upload(w, rows, C, C);
      const Tensor ty = s.Upload(x, rows, C, C);
      s.stream->ShiftDelta(1, 1, tx, td);
      s.stream->Wkv6(1, head_size, tr, tk, tv, tw, s.Vector(u), ty);
      ASSERT_TRUE(s.stream->UnbindStates().ok());
      delta[i] = s.Download(td);
      y[i] = s.Download(ty);
    }
    EXPECT_LE(MaxRelErr(delta[0], delta[1], rows, C, C), 1e-6) << "shift, head " << head_size;
    EXPECT_LE(MaxRelErr(y[0], y[1], rows, C, C), 1e-4) << "wkv, head " << head_size;
    for (int s = 0; s < 3; ++s) {
      const RecurrentState &a = states[0][s], &b = states[1][s];
      EXPECT_LE(MaxRelErr(a.shift, b.shift, 1, a.shift.size(), 0), 0) << "shift state " << s;
      EXPECT_LE(MaxRelErr(a.wkv, b.wkv, 1, a.wkv.size(), 0), 1e-4) << "wkv state " << s;
    }
  }
}

// The compound ops (fused kernels on the GPU, their default op sequences on the CPU) for a
// decode layout (one row per sequence), a prompt layout (the unfused GPU forms) and one of 20
// rows (products on the tile kernel).
TEST_F(CudaParity, CompoundOpsMatchScalarCpu) {
  const int64_t head_size = 64, C = 2 * head_size, layers = 2, dm = 16, dd = 24, F = 256;
  const StateShape shape{static_cast<uint32_t>(layers), static_cast<uint32_t>(C),
                         static_cast<uint32_t>(head_size)};
  const std::vector<float> lw = Random(C, 1.0f, 50), lb = Random(C, 1.0f, 51);
  std::vector<std::vector<float>> mixes;
  for (int j = 0; j < 5; ++j) mixes.push_back(Random(C, 0.5f, 52 + j));
  const std::vector<float> w2f = Random(5 * C * dm, 0.3f, 60), u = Random(C, 0.5f, 61);
  const std::vector<float> td = Random(C, 0.5f, 62);
  auto quantized = [](GgmlType type, const std::vector<float>& f, int64_t rows, int64_t cols) {
    const uint64_t row_bytes = RowBytes(type, cols);
    std::vector<uint8_t> q(row_bytes * rows);
    if (type == GgmlType::kF32) {
      std::memcpy(q.data(), f.data(), q.size());
      return q;
    }
    for (int64_t r = 0; r < rows; ++r) {
      EXPECT_TRUE(QuantizeRow(type, f.data() + r * cols, q.data() + r * row_bytes, cols).ok());
    }
    return q;
  };
  const std::vector<uint8_t> w2q = quantized(GgmlType::kF32, w2f, 5 * C, dm);
  const std::vector<uint8_t> proj =
      quantized(GgmlType::kQ8_0, Random(4 * C * C, 0.1f, 63), 4 * C, C);
  const std::vector<uint8_t> dw1 = quantized(GgmlType::kF32, Random(dd * C, 0.1f, 64), dd, C);
  const std::vector<uint8_t> dw2 = quantized(GgmlType::kF32, Random(C * dd, 0.1f, 65), C, dd);
  const std::vector<uint8_t> key = quantized(GgmlType::kQ8_0, Random(F * C, 0.1f, 66), F, C);
  const std::vector<uint8_t> val = quantized(GgmlType::kQ8_0, Random(C * F, 0.1f, 67), C, F);
  for (const StepLayout& layout :
       {StepLayout{{0, 1, 2, 3}}, StepLayout{{0, 1, 5, 7}}, StepLayout{{0, 3, 12, 20}}}) {
    const int64_t rows = layout.n_rows();
    const std::vector<float> x = Random(rows * C, 1.0f, 70), h = Random(rows * 5 * dm, 1.0f, 71);
    std::vector<std::vector<float>> out[2];
    std::vector<RecurrentState> states[2];
    Side* sides[2] = {&cpu_, &gpu_};
    for (int i = 0; i < 2; ++i) {
      Side& s = *sides[i];
      for (int q = 0; q < 3; ++q) {
        RecurrentState st = RecurrentState::Zero(shape);
        st.shift = Random(st.shift.size(), 1.0f, 80 + q);
        st.wkv = Random(st.wkv.size(), 0.5f, 90 + q);
        states[i].push_back(std::move(st));
      }
      std::vector<RecurrentState*> ptrs;
      for (RecurrentState& st : states[i]) ptrs.push_back(&st);
      ASSERT_TRUE(s.stream->BindStates(ptrs, layout).ok());
      const std::vector<float> zero(rows * C);
      Tensor t[12];
      for (Tensor& e : t) e = s.Upload(zero, rows, C, C);
      const Tensor tx = s.Upload(x, rows, C, C), th = s.Upload(h, rows, 5 * dm, 5 * dm);
      const Tensor tdd = s.Upload(std::vector<float>(rows * dd), rows, dd, dd);
      const Tensor tkk = s.Upload(std::vector<float>(rows * F), rows, F, F);
      WeightView mv[5];
      const WeightView* mp[5];
      const WeightView* w2p[5];
      WeightView w2v[5];
      const WeightView w2all = s.Weight(GgmlType::kF32, 5 * C, dm, w2q);
      for (int j = 0; j < 5; ++j) {
        mv[j] = s.Vector(mixes[j]);
        mp[j] = &mv[j];
        w2v[j] = w2all.Rows(j * C, C);
        w2p[j] = &w2v[j];
      }
      const WeightView pw = s.Weight(GgmlType::kQ8_0, 4 * C, C, proj);
      const WeightView pr = pw.Rows(0, C), pk = pw.Rows(C, C), pv = pw.Rows(2 * C, C),
                       pg = pw.Rows(3 * C, C);
      const WeightView d1 = s.Weight(GgmlType::kF32, dd, C, dw1);
      const WeightView d2 = s.Weight(GgmlType::kF32, C, dd, dw2);
      const WeightView fk = s.Weight(GgmlType::kQ8_0, F, C, key);
      const WeightView fv = s.Weight(GgmlType::kQ8_0, C, F, val);
      const Tensor one_out[] = {t[2]};
      const Tensor two_out[] = {t[3], t[4]};
      const Tensor five_out[] = {t[5], t[6], t[7], t[8], t[9]};
      s.stream->NormShiftLerps(1, 0, tx, s.Vector(lw), s.Vector(lb), 1e-5f, t[0], t[1],
                               std::span(mp, 1), one_out);
      s.stream->NormShiftLerps(0, 1, t[2], s.Vector(lw), s.Vector(lb), 1e-5f, t[10], t[11],
                               std::span(mp + 1, 2), two_out);
      s.stream->LoraLerps(w2p, th, dm, t[0], t[1], mp, t[10], five_out);
      const Stream::Product products[] = {{&pr, t[5], t[0], Epilogue::kNone},
                                          {&pk, t[6], t[1], Epilogue::kNone},
                                          {&pv, t[7], t[2], Epilogue::kNone},
                                          {&pg, t[8], t[3], Epilogue::kSilu},
                                          {&d1, t[9], tdd, Epilogue::kTanh}};
      s.stream->MatMuls(products);
      s.stream->MatMulDecay(d2, tdd, t[4], s.Vector(td));
      s.stream->Wkv6GroupNorm(1, head_size, t[0], t[1], t[2], t[4], s.Vector(u), t[5], s.Vector(lw),
                              s.Vector(lb), 64e-5f, t[3]);
      const Stream::Product ffn[] = {{&fk, t[5], tkk, Epilogue::kReluSquare},
                                     {&pr, t[6], t[11], Epilogue::kSigmoid}};
      s.stream->MatMuls(ffn);
      s.stream->MatMulGatedAdd(fv, tkk, t[7], t[8], t[9]);
      ASSERT_TRUE(s.stream->UnbindStates().ok());
      // t[7] (y of the gated add) and t[10] (tmp of the LoRA lerps) are left unspecified.
      for (int j = 0; j < 12; ++j) {
        if (j != 7 && j != 10) out[i].push_back(s.Download(t[j]));
      }
      out[i].push_back(s.Download(tdd));
      out[i].push_back(s.Download(tkk));
    }
    for (size_t j = 0; j < out[0].size(); ++j) {
      const int64_t cols = j + 2 == out[0].size() ? dd : (j + 1 == out[0].size() ? F : C);
      // Output 7 (t[8]) adds a product of squared-ReLU activations (a wide range within each
      // block of x): on the tile kernel (20 rows) it lands 3e-3 from the scalar CPU.
      const double tolerance = j == 7 ? 1e-2 : 1e-3;
      EXPECT_LE(MaxRelErr(out[0][j], out[1][j], rows, cols, cols), tolerance)
          << "output " << j << ", " << rows << " rows";
    }
    for (int q = 0; q < 3; ++q) {
      const RecurrentState &a = states[0][q], &b = states[1][q];
      EXPECT_LE(MaxRelErr(a.shift, b.shift, 1, a.shift.size(), 0), 1e-5) << "shift state " << q;
      // The decay comes out of a product here (summed in another order on each side).
      EXPECT_LE(MaxRelErr(a.wkv, b.wkv, 1, a.wkv.size(), 0), 1e-3) << "wkv state " << q;
    }
  }
}

TEST(CudaDevice, UnavailableIsAStatusNotACrash) {
  auto gpu = CreateDevice("cuda", DeviceOptions{});
  if (gpu.ok()) {
    EXPECT_NE((*gpu)->description().find("cuda"), std::string::npos);
    auto bad = CreateDevice("cuda", DeviceOptions{.device = 1 << 20});
    EXPECT_FALSE(bad.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
    return;
  }
  // No driver or no GPU: Unavailable; not compiled in: NotFound. Either names cuda.
  EXPECT_TRUE(absl::IsUnavailable(gpu.status()) || absl::IsNotFound(gpu.status())) << gpu.status();
  EXPECT_NE(std::string(gpu.status().message()).find("cuda"), std::string::npos);
}

}  // namespace
}  // namespace rwkv::engine::backend
