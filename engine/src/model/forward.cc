#include "model/forward.h"

#include <algorithm>

namespace rwkv::engine {
namespace {

using backend::Epilogue;
using backend::Tensor;

// Logit rows computed per head product: a prompt asking for every position's logits does
// not need a max_rows × n_vocab buffer.
constexpr int64_t kHeadRows = 16;

}  // namespace

absl::StatusOr<std::unique_ptr<ForwardPass>> ForwardPass::Create(const ModelConfig& c,
                                                                 const ModelWeights& weights,
                                                                 backend::Device& device,
                                                                 int64_t max_rows) {
  std::unique_ptr<ForwardPass> f(new ForwardPass(c, weights, max_rows));
  auto alloc = [&](int64_t rows, int64_t cols, Tensor* out) -> absl::Status {
    // Rows padded to 16 floats keep every row 64-byte aligned.
    const int64_t stride = (cols + 15) / 16 * 16;
    absl::StatusOr<std::unique_ptr<backend::Buffer>> b =
        device.Allocate(backend::BufferKind::kScratch, static_cast<uint64_t>(rows * stride) * 4);
    if (!b.ok()) return b.status();
    *out = Tensor{static_cast<float*>((*b)->base()), rows, cols, stride};
    f->buffers_.push_back(std::move(*b));
    return absl::OkStatus();
  };
  const int64_t C = c.n_embd;
  for (Tensor* t :
       {&f->x_, &f->xa_, &f->sx_, &f->tmp_, &f->r_, &f->k_, &f->v_, &f->g_, &f->w_, &f->y_}) {
    if (absl::Status s = alloc(max_rows, C, t); !s.ok()) return s;
  }
  for (Tensor& t : f->xj_) {
    if (absl::Status s = alloc(max_rows, C, &t); !s.ok()) return s;
  }
  if (absl::Status s = alloc(max_rows, 5 * c.time_mix_extra_dim, &f->h_); !s.ok()) return s;
  if (absl::Status s = alloc(max_rows, c.time_decay_extra_dim, &f->dd_); !s.ok()) return s;
  if (absl::Status s = alloc(max_rows, c.n_ffn, &f->kk_); !s.ok()) return s;
  if (absl::Status s = alloc(kHeadRows, C, &f->head_in_); !s.ok()) return s;
  if (absl::Status s = alloc(kHeadRows, c.n_vocab, &f->logits_); !s.ok()) return s;
  f->stream_ = device.CreateStream();
  return f;
}

absl::Status ForwardPass::Run(std::span<const int32_t> tokens, const backend::StepLayout& layout,
                              std::span<RecurrentState* const> states,
                              std::span<const LogitsRow> logits) {
  const int64_t rows = static_cast<int64_t>(tokens.size());
  if (rows == 0 || rows > max_rows_ || layout.n_rows() != rows) {
    return absl::InvalidArgumentError("forward: step rows do not match the layout");
  }
  backend::Stream& s = *stream_;
  if (absl::Status st = s.BindStates(states, layout); !st.ok()) return st;
  s.Embed(weights_.embd, tokens, T(x_, rows));
  s.LayerNorm(T(x_, rows), weights_.ln0_w, weights_.ln0_b, config_.eps, T(x_, rows));
  for (uint32_t l = 0; l < config_.n_layer; ++l) Layer(static_cast<int>(l), rows);
  Head(rows, logits);
  return s.UnbindStates();
}

void ForwardPass::Layer(int l, int64_t n) {
  const LayerWeights& w = weights_.layers[l];
  backend::Stream& s = *stream_;
  const int64_t Dm = config_.time_mix_extra_dim;
  const Tensor x = T(x_, n), xa = T(xa_, n), sx = T(sx_, n), tmp = T(tmp_, n);
  const Tensor r = T(r_, n), k = T(k_, n), v = T(v_, n), g = T(g_, n), wd = T(w_, n);
  const Tensor y = T(y_, n), h = T(h_, n), dd = T(dd_, n), kk = T(kk_, n);
  Tensor xj[5];
  for (int j = 0; j < 5; ++j) xj[j] = T(xj_[j], n);

  // Time mix.
  const backend::WeightView* lerp_x[] = {&w.lerp_x};
  const Tensor tmp_out[] = {tmp};
  s.NormShiftLerps(l, 0, x, w.ln1_w, w.ln1_b, config_.eps, xa, sx, lerp_x, tmp_out);
  s.MatMul(w.mix_w1, tmp, h, Epilogue::kTanh, false);
  const backend::WeightView* w2[5];
  const backend::WeightView* lerps[5];
  for (int j = 0; j < 5; ++j) w2[j] = &w.mix_w2[j], lerps[j] = &w.lerp[j];
  s.LoraLerps(w2, h, Dm, xa, sx, lerps, tmp, xj);
  const backend::Stream::Product rkvg[] = {{&w.receptance, xj[3], r, Epilogue::kNone},
                                           {&w.key, xj[1], k, Epilogue::kNone},
                                           {&w.value, xj[2], v, Epilogue::kNone},
                                           {&w.gate, xj[4], g, Epilogue::kSilu},
                                           {&w.decay_w1, xj[0], dd, Epilogue::kTanh}};
  s.MatMuls(rkvg);
  s.MatMulDecay(w.decay_w2, dd, wd, w.decay);
  s.Wkv6GroupNorm(l, config_.head_size, r, k, v, wd, w.first, y, w.lnx_w, w.lnx_b,
                  config_.group_norm_eps, g);
  s.MatMul(w.output, y, x, Epilogue::kNone, true);

  // Channel mix.
  const backend::WeightView* cm_lerps[] = {&w.cm_lerp_k, &w.cm_lerp_r};
  const Tensor cm_outs[] = {xj[0], xj[1]};
  s.NormShiftLerps(l, 1, x, w.ln2_w, w.ln2_b, config_.eps, xa, sx, cm_lerps, cm_outs);
  const backend::Stream::Product cm[] = {{&w.cm_key, xj[0], kk, Epilogue::kReluSquare},
                                         {&w.cm_receptance, xj[1], r, Epilogue::kSigmoid}};
  s.MatMuls(cm);
  s.MatMulGatedAdd(w.cm_value, kk, v, x, r);

  // llama.cpp halves the residual stream after every R-th layer (docs/engine/forward-pass.md,
  // "Rescaling").
  if (config_.rescale_every > 0 && (l + 1) % config_.rescale_every == 0) s.Scale(x, 0.5f);
}

void ForwardPass::Head(int64_t rows, std::span<const LogitsRow> logits) {
  backend::Stream& s = *stream_;
  for (size_t b = 0; b < logits.size(); b += kHeadRows) {
    const int64_t n = std::min<int64_t>(kHeadRows, static_cast<int64_t>(logits.size() - b));
    std::vector<int64_t> idx(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) idx[i] = logits[b + i].row;
    const Tensor in = T(head_in_, n), out = T(logits_, n);
    s.GatherRows(T(x_, rows), idx, in);
    s.LayerNorm(in, weights_.ln_out_w, weights_.ln_out_b, config_.eps, in);
    s.MatMul(weights_.head, in, out, Epilogue::kNone, false);
    for (int64_t i = 0; i < n; ++i) s.ReadRows(out, i, 1, logits[b + i].dst);
  }
}

}  // namespace rwkv::engine
