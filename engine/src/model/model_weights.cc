#include "model/model_weights.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rwkv::engine {
namespace {

using backend::WeightView;

enum class Kind {
  kVector,  // norms, lerps, decay, first: the WKV and elementwise ops read raw f32
  kMatrix,  // anything the device can multiply
};

class Loader {
 public:
  Loader(const GgufFile& file, backend::Device& device) : file_(file), device_(device) {}

  // Looks up `name`, checks its dims against `expected` (missing trailing dims must be 1)
  // and its type against `kind`.
  absl::StatusOr<WeightView> Get(const std::string& name, std::vector<int64_t> expected,
                                 Kind kind) {
    const GgufTensorInfo* t = file_.FindTensor(name);
    if (t == nullptr) {
      return absl::NotFoundError(absl::StrCat(file_.path(), ": tensor ", name, " is missing"));
    }
    bool shape_ok = true;
    for (size_t i = 0; i < 4; ++i) {
      const int64_t want = i < expected.size() ? expected[i] : 1;
      if (t->ne[i] != want) shape_ok = false;
    }
    if (!shape_ok) {
      return absl::InvalidArgumentError(
          absl::StrCat(file_.path(), ": tensor ", name, " has shape [", absl::StrJoin(t->ne, ", "),
                       "], expected [", absl::StrJoin(expected, ", "), "]"));
    }
    if (kind == Kind::kVector && t->type != GgmlType::kF32) {
      return absl::InvalidArgumentError(absl::StrCat(file_.path(), ": tensor ", name, " has type ",
                                                     std::string(GgmlTypeName(t->type)),
                                                     ", expected f32"));
    }
    if (!device_.SupportsWeightType(t->type)) {
      return absl::UnimplementedError(absl::StrCat(
          file_.path(), ": tensor ", name, " has type ", std::string(GgmlTypeName(t->type)),
          ", which the ", device_.name(), " backend does not support"));
    }
    absl::StatusOr<WeightView> v = device_.PrepareWeight(*t);
    if (!v.ok()) {
      return absl::Status(v.status().code(),
                          absl::StrCat(file_.path(), ": ", v.status().message()));
    }
    return v;
  }

  bool Has(const std::string& name) const { return file_.FindTensor(name) != nullptr; }

 private:
  const GgufFile& file_;
  backend::Device& device_;
};

#define RWKV_ASSIGN_WEIGHT(lhs, expr) \
  do {                                \
    auto _w = (expr);                 \
    if (!_w.ok()) return _w.status(); \
    lhs = *_w;                        \
  } while (0)

absl::Status LoadLayer(Loader& ld, const ModelConfig& c, int l, LayerWeights& w) {
  const int64_t C = c.n_embd, F = c.n_ffn, Dm = c.time_mix_extra_dim, Dd = c.time_decay_extra_dim,
                S = c.head_size, H = c.n_head;
  const std::string p = absl::StrCat("blk.", l, ".");
  RWKV_ASSIGN_WEIGHT(w.ln1_w, ld.Get(p + "attn_norm.weight", {C}, Kind::kVector));
  RWKV_ASSIGN_WEIGHT(w.ln1_b, ld.Get(p + "attn_norm.bias", {C}, Kind::kVector));
  RWKV_ASSIGN_WEIGHT(w.ln2_w, ld.Get(p + "attn_norm_2.weight", {C}, Kind::kVector));
  RWKV_ASSIGN_WEIGHT(w.ln2_b, ld.Get(p + "attn_norm_2.bias", {C}, Kind::kVector));
  RWKV_ASSIGN_WEIGHT(w.lerp_x, ld.Get(p + "time_mix_lerp_x.weight", {C}, Kind::kVector));
  if (ld.Has(p + "time_mix_lerp_fused.weight")) {
    WeightView fused;
    RWKV_ASSIGN_WEIGHT(fused,
                       ld.Get(p + "time_mix_lerp_fused.weight", {C, 1, 1, 5}, Kind::kVector));
    for (int j = 0; j < 5; ++j) w.lerp[j] = fused.Rows(j, 1);
  } else {
    // Files converted before the lerp fusion carry five separate vectors.
    static constexpr const char* kNames[5] = {"w", "k", "v", "r", "g"};
    for (int j = 0; j < 5; ++j) {
      RWKV_ASSIGN_WEIGHT(w.lerp[j], ld.Get(absl::StrCat(p, "time_mix_lerp_", kNames[j], ".weight"),
                                           {C}, Kind::kVector));
    }
  }
  RWKV_ASSIGN_WEIGHT(w.mix_w1, ld.Get(p + "time_mix_w1.weight", {C, 5 * Dm}, Kind::kMatrix));
  WeightView w2;
  RWKV_ASSIGN_WEIGHT(w2, ld.Get(p + "time_mix_w2.weight", {Dm, C, 5}, Kind::kMatrix));
  for (int j = 0; j < 5; ++j) w.mix_w2[j] = w2.Rows(j * C, C);
  RWKV_ASSIGN_WEIGHT(w.decay, ld.Get(p + "time_mix_decay.weight", {C}, Kind::kVector));
  RWKV_ASSIGN_WEIGHT(w.decay_w1, ld.Get(p + "time_mix_decay_w1.weight", {C, Dd}, Kind::kMatrix));
  RWKV_ASSIGN_WEIGHT(w.decay_w2, ld.Get(p + "time_mix_decay_w2.weight", {Dd, C}, Kind::kMatrix));
  RWKV_ASSIGN_WEIGHT(w.first, ld.Get(p + "time_mix_first.weight", {S, H}, Kind::kVector));
  RWKV_ASSIGN_WEIGHT(w.receptance, ld.Get(p + "time_mix_receptance.weight", {C, C}, Kind::kMatrix));
  RWKV_ASSIGN_WEIGHT(w.key, ld.Get(p + "time_mix_key.weight", {C, C}, Kind::kMatrix));
  RWKV_ASSIGN_WEIGHT(w.value, ld.Get(p + "time_mix_value.weight", {C, C}, Kind::kMatrix));
  RWKV_ASSIGN_WEIGHT(w.gate, ld.Get(p + "time_mix_gate.weight", {C, C}, Kind::kMatrix));
  RWKV_ASSIGN_WEIGHT(w.output, ld.Get(p + "time_mix_output.weight", {C, C}, Kind::kMatrix));
  RWKV_ASSIGN_WEIGHT(w.lnx_w, ld.Get(p + "time_mix_ln.weight", {C}, Kind::kVector));
  RWKV_ASSIGN_WEIGHT(w.lnx_b, ld.Get(p + "time_mix_ln.bias", {C}, Kind::kVector));
  RWKV_ASSIGN_WEIGHT(w.cm_lerp_k, ld.Get(p + "channel_mix_lerp_k.weight", {C}, Kind::kVector));
  RWKV_ASSIGN_WEIGHT(w.cm_lerp_r, ld.Get(p + "channel_mix_lerp_r.weight", {C}, Kind::kVector));
  RWKV_ASSIGN_WEIGHT(w.cm_key, ld.Get(p + "channel_mix_key.weight", {C, F}, Kind::kMatrix));
  RWKV_ASSIGN_WEIGHT(w.cm_value, ld.Get(p + "channel_mix_value.weight", {F, C}, Kind::kMatrix));
  RWKV_ASSIGN_WEIGHT(w.cm_receptance,
                     ld.Get(p + "channel_mix_receptance.weight", {C, C}, Kind::kMatrix));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelWeights> LoadModelWeights(const GgufFile& file, const ModelConfig& c,
                                              backend::Device& device) {
  if (!device.SupportsHeadSize(c.head_size)) {
    return absl::UnimplementedError(absl::StrCat(file.path(), ": head size ", c.head_size,
                                                 " is not supported by the ", device.name(),
                                                 " backend"));
  }
  Loader ld(file, device);
  const int64_t C = c.n_embd, V = c.n_vocab;
  ModelWeights w;
  RWKV_ASSIGN_WEIGHT(w.embd, ld.Get("token_embd.weight", {C, V}, Kind::kMatrix));
  RWKV_ASSIGN_WEIGHT(w.ln0_w, ld.Get("token_embd_norm.weight", {C}, Kind::kVector));
  RWKV_ASSIGN_WEIGHT(w.ln0_b, ld.Get("token_embd_norm.bias", {C}, Kind::kVector));
  RWKV_ASSIGN_WEIGHT(w.ln_out_w, ld.Get("output_norm.weight", {C}, Kind::kVector));
  RWKV_ASSIGN_WEIGHT(w.ln_out_b, ld.Get("output_norm.bias", {C}, Kind::kVector));
  RWKV_ASSIGN_WEIGHT(w.head, ld.Get("output.weight", {C, V}, Kind::kMatrix));
  w.layers.resize(c.n_layer);
  for (uint32_t l = 0; l < c.n_layer; ++l) {
    if (absl::Status s = LoadLayer(ld, c, static_cast<int>(l), w.layers[l]); !s.ok()) return s;
  }
  return w;
}

}  // namespace rwkv::engine
