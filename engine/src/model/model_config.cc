#include "model/model_config.h"

#include "absl/strings/str_cat.h"

namespace rwkv::engine {
namespace {

constexpr const char* kArch = "rwkv6";

absl::StatusOr<uint32_t> OptionalUint32(const GgufFile& f, const std::string& key,
                                        uint32_t fallback) {
  if (f.FindKv(key) == nullptr) return fallback;
  return f.GetUint32(key);
}

absl::Status Invalid(const GgufFile& f, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(f.path(), ": ", what));
}

absl::StatusOr<const GgufTensorInfo*> Tensor(const GgufFile& f, const std::string& name) {
  const GgufTensorInfo* t = f.FindTensor(name);
  if (t == nullptr) {
    return absl::NotFoundError(absl::StrCat(f.path(), ": tensor ", name, " is missing"));
  }
  return t;
}

}  // namespace

absl::StatusOr<ModelConfig> ReadModelConfig(const GgufFile& f) {
  absl::StatusOr<std::string> arch = f.GetString("general.architecture");
  if (!arch.ok()) return arch.status();
  if (*arch != kArch) {
    return Invalid(f, absl::StrCat("architecture '", *arch, "' is not rwkv6"));
  }
  const std::string p = absl::StrCat(kArch, ".");
  ModelConfig c;
  absl::StatusOr<uint32_t> v = f.GetUint32(p + "embedding_length");
  if (!v.ok()) return v.status();
  c.n_embd = *v;
  if (v = f.GetUint32(p + "block_count"); !v.ok()) return v.status();
  c.n_layer = *v;
  if (v = f.GetUint32(p + "wkv.head_size"); !v.ok()) return v.status();
  c.head_size = *v;
  if (v = f.GetUint32(p + "context_length"); !v.ok()) return v.status();
  if (v = f.GetUint32(p + "time_mix_extra_dim"); !v.ok()) return v.status();
  c.time_mix_extra_dim = *v;
  if (v = f.GetUint32(p + "time_decay_extra_dim"); !v.ok()) return v.status();
  c.time_decay_extra_dim = *v;
  if (v = OptionalUint32(f, p + "rescale_every_n_layers", 0); !v.ok()) return v.status();
  c.rescale_every = *v;
  if (v = OptionalUint32(f, p + "token_shift_count", 2); !v.ok()) return v.status();
  if (*v != 2) return Invalid(f, absl::StrCat("token_shift_count ", *v, " is not 2"));
  if (f.FindKv(p + "attention.layer_norm_epsilon") != nullptr) {
    absl::StatusOr<float> eps = f.GetFloat32(p + "attention.layer_norm_epsilon");
    if (!eps.ok()) return eps.status();
    c.eps = *eps;
  }
  if (c.n_embd == 0 || c.n_layer == 0 || c.head_size == 0 || c.n_embd % c.head_size != 0) {
    return Invalid(f, absl::StrCat("embedding_length ", c.n_embd, ", block_count ", c.n_layer,
                                   " and wkv.head_size ", c.head_size, " are inconsistent"));
  }
  c.n_head = c.n_embd / c.head_size;

  absl::StatusOr<const GgufTensorInfo*> t = Tensor(f, "token_embd.weight");
  if (!t.ok()) return t.status();
  if ((*t)->ne[1] <= 0 || (*t)->ne[1] > INT32_MAX) {
    return Invalid(f, "tensor token_embd.weight has no valid vocabulary size");
  }
  c.n_vocab = static_cast<uint32_t>((*t)->ne[1]);
  if (t = Tensor(f, "blk.0.channel_mix_key.weight"); !t.ok()) return t.status();
  c.n_ffn = static_cast<uint32_t>((*t)->ne[1]);
  // llama.cpp sizes the channel-mix tensors from feed_forward_length: a file where the two
  // disagree would not load there either.
  if (const GgufValue* ff = f.FindKv(p + "feed_forward_length"); ff != nullptr && !ff->is_array()) {
    if (v = f.GetUint32(p + "feed_forward_length"); !v.ok()) return v.status();
    if (*v != c.n_ffn) {
      return Invalid(
          f, absl::StrCat("feed_forward_length ", *v,
                          " differs from tensor blk.0.channel_mix_key.weight (", c.n_ffn, ")"));
    }
  }
  if (t = Tensor(f, "blk.0.time_mix_w1.weight"); !t.ok()) return t.status();
  if ((*t)->ne[1] != 5 * static_cast<int64_t>(c.time_mix_extra_dim)) {
    return Invalid(
        f, absl::StrCat("tensor blk.0.time_mix_w1.weight has ", (*t)->ne[1],
                        " rows, expected 5 x time_mix_extra_dim (", 5 * c.time_mix_extra_dim, ")"));
  }
  if (t = Tensor(f, "blk.0.time_mix_decay_w1.weight"); !t.ok()) return t.status();
  if ((*t)->ne[1] != static_cast<int64_t>(c.time_decay_extra_dim)) {
    return Invalid(
        f, absl::StrCat("tensor blk.0.time_mix_decay_w1.weight has ", (*t)->ne[1],
                        " rows, expected time_decay_extra_dim (", c.time_decay_extra_dim, ")"));
  }
  return c;
}

}  // namespace rwkv::engine
