#include "convert/rwkv6_plan.h"

#include <cmath>
#include <iterator>
#include <optional>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rwkv::engine::convert {
namespace {

constexpr uint32_t kMaxLayers = 4096;

enum class Role {
  kVector,     // (C)
  kMaa,        // (1, 1, C), squeezed
  kFusedPart,  // time_maa_{w,k,v,r}: consumed by the fused lerp
  kFused,      // time_maa_g: emits time_mix_lerp_fused
  kW1,         // (C, 5 Dm), transposed
  kW2,         // (5, Dm, C), last two axes swapped
  kDecayW1,    // (C, Dd), transposed
  kDecayW2,    // (Dd, C), transposed
  kFirst,      // (H, S)
  kSquare,     // (C, C) projection
  kFfnKey,     // (F, C) projection
  kFfnValue,   // (C, F) projection
  kEmbedding,  // (V, C) projection
  kTimeState,  // (H, S, S), dropped
};

struct Rule {
  const char* pth;   // key after "blocks.N." (or the whole key for globals)
  const char* gguf;  // name after "blk.N." (or the whole name for globals)
  Role role;
  bool rescaled = false;
};

constexpr Rule kLayerRules[] = {
    {"ln1.weight", "attn_norm.weight", Role::kVector},
    {"ln1.bias", "attn_norm.bias", Role::kVector},
    {"ln2.weight", "attn_norm_2.weight", Role::kVector},
    {"ln2.bias", "attn_norm_2.bias", Role::kVector},
    {"att.time_maa_x", "time_mix_lerp_x.weight", Role::kMaa},
    {"att.time_maa_w", "", Role::kFusedPart},
    {"att.time_maa_k", "", Role::kFusedPart},
    {"att.time_maa_v", "", Role::kFusedPart},
    {"att.time_maa_r", "", Role::kFusedPart},
    {"att.time_maa_g", "time_mix_lerp_fused.weight", Role::kFused},
    {"att.time_maa_w1", "time_mix_w1.weight", Role::kW1},
    {"att.time_maa_w2", "time_mix_w2.weight", Role::kW2},
    {"att.time_decay", "time_mix_decay.weight", Role::kMaa},
    {"att.time_decay_w1", "time_mix_decay_w1.weight", Role::kDecayW1},
    {"att.time_decay_w2", "time_mix_decay_w2.weight", Role::kDecayW2},
    {"att.time_faaaa", "time_mix_first.weight", Role::kFirst},
    {"att.receptance.weight", "time_mix_receptance.weight", Role::kSquare},
    {"att.key.weight", "time_mix_key.weight", Role::kSquare},
    {"att.value.weight", "time_mix_value.weight", Role::kSquare},
    {"att.output.weight", "time_mix_output.weight", Role::kSquare, true},
    {"att.gate.weight", "time_mix_gate.weight", Role::kSquare},
    {"att.ln_x.weight", "time_mix_ln.weight", Role::kVector},
    {"att.ln_x.bias", "time_mix_ln.bias", Role::kVector},
    {"ffn.time_maa_k", "channel_mix_lerp_k.weight", Role::kMaa},
    {"ffn.time_maa_r", "channel_mix_lerp_r.weight", Role::kMaa},
    {"ffn.key.weight", "channel_mix_key.weight", Role::kFfnKey},
    {"ffn.receptance.weight", "channel_mix_receptance.weight", Role::kSquare},
    {"ffn.value.weight", "channel_mix_value.weight", Role::kFfnValue, true},
};
constexpr Rule kLayer0Rules[] = {
    {"ln0.weight", "token_embd_norm.weight", Role::kVector},
    {"ln0.bias", "token_embd_norm.bias", Role::kVector},
};
constexpr Rule kTimeStateRule = {"att.time_state", "", Role::kTimeState};
constexpr Rule kGlobalRules[] = {
    {"emb.weight", "token_embd.weight", Role::kEmbedding},
    {"ln_out.weight", "output_norm.weight", Role::kVector},
    {"ln_out.bias", "output_norm.bias", Role::kVector},
    {"head.weight", "output.weight", Role::kEmbedding},
};

std::vector<int64_t> ExpectedShape(Role role, const Rwkv6Hparams& h) {
  const int64_t C = h.n_embd;
  switch (role) {
    case Role::kVector:
      return {C};
    case Role::kMaa:
    case Role::kFusedPart:
    case Role::kFused:
      return {1, 1, C};
    case Role::kW1:
      return {C, 5ll * h.time_mix_extra_dim};
    case Role::kW2:
      return {5, h.time_mix_extra_dim, C};
    case Role::kDecayW1:
      return {C, h.time_decay_extra_dim};
    case Role::kDecayW2:
      return {h.time_decay_extra_dim, C};
    case Role::kFirst:
      return {h.n_head, h.head_size};
    case Role::kSquare:
      return {C, C};
    case Role::kFfnKey:
      return {h.n_ffn, C};
    case Role::kFfnValue:
      return {C, h.n_ffn};
    case Role::kEmbedding:
      return {h.n_vocab, C};
    case Role::kTimeState:
      return {h.n_head, h.head_size, h.head_size};
  }
  return {};
}

std::string ShapeString(const std::vector<int64_t>& s) {
  return absl::StrCat("[", absl::StrJoin(s, ", "), "]");
}

absl::Status Bad(const PthCheckpoint& ckpt, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(ckpt.name(), ": ", std::string(what)));
}

// "blocks.N.rest" -> N and rest.
bool SplitLayer(std::string_view name, uint32_t* layer, std::string_view* rest) {
  constexpr std::string_view kPrefix = "blocks.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return false;
  name.remove_prefix(kPrefix.size());
  const size_t dot = name.find('.');
  if (dot == 0 || dot == std::string_view::npos || dot > 4) return false;
  if (dot > 1 && name[0] == '0') return false;
  uint32_t n = 0;
  for (size_t i = 0; i < dot; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    n = n * 10 + static_cast<uint32_t>(name[i] - '0');
  }
  *layer = n;
  *rest = name.substr(dot + 1);
  return true;
}

const Rule* FindRule(std::string_view name, uint32_t* layer) {
  std::string_view rest;
  if (!SplitLayer(name, layer, &rest)) {
    for (const Rule& r : kGlobalRules) {
      if (name == r.pth) return &r;
    }
    return nullptr;
  }
  for (const Rule& r : kLayerRules) {
    if (rest == r.pth) return &r;
  }
  if (*layer == 0) {
    for (const Rule& r : kLayer0Rules) {
      if (rest == r.pth) return &r;
    }
  }
  if (rest == kTimeStateRule.pth) return &kTimeStateRule;
  return nullptr;
}

absl::Status Recognise(const PthCheckpoint& ckpt) {
  const bool has_maa = ckpt.Find("blocks.0.att.time_maa_x") != nullptr;
  const bool has_faaaa = ckpt.Find("blocks.0.att.time_faaaa") != nullptr;
  if (has_maa && has_faaaa && ckpt.Find("emb.weight") != nullptr) return absl::OkStatus();
  if (ckpt.Find("blocks.0.att.time_mix_k") != nullptr) {
    return Bad(ckpt, "looks like an RWKV-4/5 checkpoint (time_mix_k), not RWKV-6");
  }
  if (ckpt.Find("blocks.0.att.x_r") != nullptr || ckpt.Find("blocks.0.att.w0") != nullptr) {
    return Bad(ckpt, "looks like an RWKV-7 checkpoint, not RWKV-6");
  }
  if (has_faaaa && !has_maa) return Bad(ckpt, "looks like an RWKV-5 checkpoint, not RWKV-6");
  if (ckpt.Find("blocks.0.att.time_state") != nullptr && ckpt.Find("emb.weight") == nullptr) {
    return Bad(ckpt, "is a state-tuning file, not a model (use convert-state)");
  }
  return Bad(ckpt,
             "not an RWKV-6 (x060) checkpoint: emb.weight, blocks.0.att.time_maa_x or "
             "blocks.0.att.time_faaaa missing");
}

absl::StatusOr<Rwkv6Hparams> DeriveHparams(const PthCheckpoint& ckpt) {
  Rwkv6Hparams h;
  const PthTensorInfo* emb = ckpt.Find("emb.weight");
  const PthTensorInfo* first = ckpt.Find("blocks.0.att.time_faaaa");
  const PthTensorInfo* ffn = ckpt.Find("blocks.0.ffn.key.weight");
  const PthTensorInfo* w1 = ckpt.Find("blocks.0.att.time_maa_w1");
  const PthTensorInfo* dw1 = ckpt.Find("blocks.0.att.time_decay_w1");
  for (auto [t, n] : {std::pair{ffn, "blocks.0.ffn.key.weight"},
                      {w1, "blocks.0.att.time_maa_w1"},
                      {dw1, "blocks.0.att.time_decay_w1"}}) {
    if (t == nullptr) return Bad(ckpt, absl::StrCat("missing tensor ", n));
  }
  for (const PthTensorInfo* t : {emb, first, ffn, w1, dw1}) {
    if (t->shape.size() != 2 || t->shape[0] <= 0 || t->shape[1] <= 0 ||
        t->shape[0] > UINT32_MAX / 8 || t->shape[1] > UINT32_MAX / 8) {
      return Bad(ckpt,
                 absl::StrCat("tensor ", t->name, " has unexpected shape ", ShapeString(t->shape)));
    }
  }
  h.n_vocab = static_cast<uint32_t>(emb->shape[0]);
  h.n_embd = static_cast<uint32_t>(emb->shape[1]);
  h.n_head = static_cast<uint32_t>(first->shape[0]);
  h.head_size = static_cast<uint32_t>(first->shape[1]);
  if (static_cast<uint64_t>(h.n_head) * h.head_size != h.n_embd) {
    return Bad(ckpt, absl::StrCat("time_faaaa shape ", ShapeString(first->shape),
                                  " does not split n_embd ", h.n_embd, " into heads"));
  }
  h.n_ffn = static_cast<uint32_t>(ffn->shape[0]);
  if (w1->shape[1] % 5 != 0) {
    return Bad(ckpt, absl::StrCat("time_maa_w1 width ", w1->shape[1], " is not 5 * extra dim"));
  }
  h.time_mix_extra_dim = static_cast<uint32_t>(w1->shape[1] / 5);
  h.time_decay_extra_dim = static_cast<uint32_t>(dw1->shape[1]);
  for (const PthTensorInfo& t : ckpt.tensors()) {
    uint32_t layer = 0;
    std::string_view rest;
    if (SplitLayer(t.name, &layer, &rest)) {
      if (layer >= kMaxLayers) return Bad(ckpt, absl::StrCat("layer index ", layer, " too large"));
      h.n_layer = std::max(h.n_layer, layer + 1);
    }
  }
  return h;
}

PlannedTensor MakePlanned(const Rule& rule, uint32_t layer, bool is_layer,
                          std::vector<const PthTensorInfo*> sources, const Rwkv6Hparams& h,
                          uint32_t rescale_every) {
  PlannedTensor p;
  p.name = is_layer ? absl::StrCat("blk.", layer, ".", rule.gguf) : std::string(rule.gguf);
  p.sources = std::move(sources);
  const int64_t C = h.n_embd;
  switch (rule.role) {
    case Role::kVector:
    case Role::kMaa:
      p.ne = {C};
      break;
    case Role::kFused:
      p.ne = {C, 1, 1, 5};
      p.transform = Transform::kStack;
      break;
    case Role::kW1:
      p.ne = {C, 5ll * h.time_mix_extra_dim};
      p.transform = Transform::kTranspose;
      break;
    case Role::kW2:
      p.ne = {h.time_mix_extra_dim, C, 5};
      p.transform = Transform::kSwapLast2;
      break;
    case Role::kDecayW1:
      p.ne = {C, h.time_decay_extra_dim};
      p.transform = Transform::kTranspose;
      break;
    case Role::kDecayW2:
      p.ne = {h.time_decay_extra_dim, C};
      p.transform = Transform::kTranspose;
      break;
    case Role::kFirst:
      p.ne = {h.head_size, h.n_head};
      break;
    case Role::kSquare:
      p.ne = {C, C};
      p.projection = true;
      break;
    case Role::kFfnKey:
      p.ne = {C, h.n_ffn};
      p.projection = true;
      break;
    case Role::kFfnValue:
      p.ne = {h.n_ffn, C};
      p.projection = true;
      break;
    case Role::kEmbedding:
      p.ne = {C, h.n_vocab};
      p.projection = true;
      break;
    case Role::kFusedPart:
    case Role::kTimeState:
      break;
  }
  if (rule.rescaled && rescale_every > 0) {
    p.scale = std::ldexp(1.0f, -static_cast<int>(std::min<uint32_t>(layer / rescale_every, 126)));
  }
  return p;
}

}  // namespace

uint64_t PlannedTensor::numel() const {
  uint64_t n = 1;
  for (int64_t d : ne) n *= static_cast<uint64_t>(d);
  return n;
}

absl::StatusOr<Rwkv6Plan> PlanRwkv6Conversion(const PthCheckpoint& ckpt, uint32_t rescale_every) {
  if (absl::Status s = Recognise(ckpt); !s.ok()) return s;
  auto hp = DeriveHparams(ckpt);
  if (!hp.ok()) return hp.status();
  Rwkv6Plan plan;
  plan.hparams = *hp;
  const Rwkv6Hparams& h = plan.hparams;

  // Validate every tensor and index them by name.
  absl::flat_hash_map<std::string, const PthTensorInfo*> seen;
  for (const PthTensorInfo& t : ckpt.tensors()) {
    uint32_t layer = 0;
    const Rule* rule = FindRule(t.name, &layer);
    if (rule == nullptr) {
      return Bad(ckpt, absl::StrCat("unexpected tensor ", absl::CHexEscape(t.name),
                                    " (not part of an RWKV-6 checkpoint)"));
    }
    const std::vector<int64_t> want = ExpectedShape(rule->role, h);
    if (t.shape != want) {
      return Bad(ckpt, absl::StrCat("tensor ", t.name, " has shape ", ShapeString(t.shape),
                                    ", expected ", ShapeString(want)));
    }
    if (t.dtype != PthDtype::kF32 && t.dtype != PthDtype::kF16 && t.dtype != PthDtype::kBF16 &&
        t.dtype != PthDtype::kF64) {
      return Bad(ckpt, absl::StrCat("tensor ", t.name, " has non-float dtype ",
                                    std::string(PthDtypeName(t.dtype))));
    }
    seen[t.name] = &t;
  }
  // Every tensor a complete RWKV-6 model needs.
  std::vector<std::string> required;
  for (const Rule& r : kGlobalRules) required.emplace_back(r.pth);
  for (const Rule& r : kLayer0Rules) required.push_back(absl::StrCat("blocks.0.", r.pth));
  for (uint32_t l = 0; l < h.n_layer; ++l) {
    for (const Rule& r : kLayerRules) required.push_back(absl::StrCat("blocks.", l, ".", r.pth));
  }
  for (const std::string& name : required) {
    if (!seen.contains(name)) {
      return Bad(ckpt, absl::StrCat("missing tensor ", name, " (truncated checkpoint?)"));
    }
  }
  for (const PthTensorInfo& t : ckpt.tensors()) {
    uint32_t layer = 0;
    const Rule* rule = FindRule(t.name, &layer);
    std::string_view rest;
    // Equality, not ordering: ordering pointers into different arrays is unspecified.
    bool ln0 = false;
    for (const Rule& r : kLayer0Rules) ln0 = ln0 || rule == &r;
    const bool is_layer = SplitLayer(t.name, &layer, &rest) && !ln0;
    if (rule->role == Role::kFusedPart || rule->role == Role::kTimeState) continue;
    std::vector<const PthTensorInfo*> sources = {&t};
    if (rule->role == Role::kFused) {
      sources.clear();
      for (const char* part : {"w", "k", "v", "r", "g"}) {
        sources.push_back(seen[absl::StrCat("blocks.", layer, ".att.time_maa_", part)]);
      }
    }
    plan.tensors.push_back(
        MakePlanned(*rule, layer, is_layer, std::move(sources), h, rescale_every));
  }
  return plan;
}

}  // namespace rwkv::engine::convert
