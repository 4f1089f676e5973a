#include "synth/synth_recipe.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "synth/synth_random.h"

namespace rwkv::engine::synth {
namespace {

// Widths of the reference model whose value scales the recipe reproduces.
constexpr double kReferenceWidth = 128.0;

TensorRecipe Vector(std::string name, int64_t n, float mean, float stddev) {
  TensorRecipe r;
  r.name = std::move(name);
  r.ne = {n};
  r.forced_f32 = true;
  r.mean = mean;
  r.stddev = stddev;
  return r;
}

TensorRecipe Matrix(std::string name, std::vector<int64_t> ne, float stddev, bool forced_f32) {
  TensorRecipe r;
  r.name = std::move(name);
  r.ne = std::move(ne);
  r.forced_f32 = forced_f32;
  r.stddev = stddev;
  return r;
}

void ClipTo(TensorRecipe& r, float lo, float hi) {
  r.clip = true;
  r.lo = lo;
  r.hi = hi;
}

}  // namespace

int64_t TensorRecipe::n_elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

std::vector<TensorRecipe> BuildRecipes(const SynthShape& shape, int64_t rescale_every) {
  const int64_t c = shape.n_embd;
  const int64_t n_layer = shape.n_layer;
  const int64_t f = shape.n_ffn;
  const int64_t dm = shape.mix_lora_rank;
  const int64_t dd = shape.decay_lora_rank;
  const int64_t s = shape.head_size;
  const int64_t v = shape.n_vocab;
  // Keeps matmul outputs at the reference model's scale whatever the width.
  const float wide =
      c > kReferenceWidth ? static_cast<float>(std::sqrt(kReferenceWidth / c)) : 1.0f;

  std::vector<TensorRecipe> out;
  out.reserve(6 + 24 * n_layer);
  out.push_back(Matrix("token_embd.weight", {c, v}, 0.5f, false));

  for (int64_t l = 0; l < n_layer; ++l) {
    const std::string p = absl::StrCat("blk.", l, ".");
    const double r01 = n_layer > 1 ? static_cast<double>(l) / (n_layer - 1) : 0.0;
    const double r1 = 1.0 - static_cast<double>(l) / n_layer;
    auto ddd_pow = [c](int64_t i, double e) { return std::pow(static_cast<double>(i) / c, e); };
    const float rescale =
        rescale_every > 0 ? std::ldexp(1.0f, -static_cast<int>(l / rescale_every)) : 1.0f;

    out.push_back(Vector(p + "attn_norm.weight", c, 1.0f, 0.1f));
    out.push_back(Vector(p + "attn_norm.bias", c, 0.0f, 0.05f));
    out.push_back(Vector(p + "attn_norm_2.weight", c, 1.0f, 0.1f));
    out.push_back(Vector(p + "attn_norm_2.bias", c, 0.0f, 0.05f));
    if (l == 0) {
      out.push_back(Vector("token_embd_norm.weight", c, 1.0f, 0.1f));
      out.push_back(Vector("token_embd_norm.bias", c, 0.0f, 0.05f));
    }

    TensorRecipe lerp_x = Vector(p + "time_mix_lerp_x.weight", c, 0.0f, 0.1f);
    lerp_x.curve = [=](int64_t e) { return static_cast<float>(1.0 - ddd_pow(e, r1)); };
    ClipTo(lerp_x, 0.0f, 1.0f);
    out.push_back(std::move(lerp_x));

    TensorRecipe fused = Matrix(p + "time_mix_lerp_fused.weight", {c, 1, 1, 5}, 0.1f, true);
    fused.curve = [=](int64_t e) {
      const int64_t slot = e / c;  // w, k, v, r, g
      const int64_t i = e % c;
      double value;
      if (slot <= 1) {
        value = 1.0 - ddd_pow(i, r1);
      } else if (slot == 2) {
        value = 1.0 - (ddd_pow(i, r1) + 0.3 * r01);
      } else {
        value = 1.0 - ddd_pow(i, 0.5 * r1);
      }
      return static_cast<float>(value);
    };
    ClipTo(fused, 0.0f, 1.0f);
    out.push_back(std::move(fused));

    out.push_back(Matrix(p + "time_mix_w1.weight", {c, 5 * dm}, 0.05f * wide, true));
    out.push_back(Matrix(p + "time_mix_w2.weight", {dm, c, 5}, 0.1f, true));

    TensorRecipe decay = Vector(p + "time_mix_decay.weight", c, 0.0f, 0.3f);
    decay.curve = [=](int64_t e) {
      const double x = c > 1 ? static_cast<double>(e) / (c - 1) : 0.0;
      return static_cast<float>(-6.0 + 5.0 * std::pow(x, 0.7 + 1.3 * r01));
    };
    ClipTo(decay, -6.5f, -0.5f);
    out.push_back(std::move(decay));

    out.push_back(Matrix(p + "time_mix_decay_w1.weight", {c, dd}, 0.05f * wide, true));
    out.push_back(Matrix(p + "time_mix_decay_w2.weight", {dd, c}, 0.1f, true));

    TensorRecipe first = Matrix(p + "time_mix_first.weight", {s, c / s}, 0.1f, true);
    first.curve = [=](int64_t e) {
      const double x = c > 1 ? static_cast<double>(e) / (c - 1) : 0.0;
      const double zigzag = static_cast<double>((e + 1) % 3 - 1) * 0.1;
      return static_cast<float>(r01 * (1.0 - x) + zigzag);
    };
    out.push_back(std::move(first));

    out.push_back(Matrix(p + "time_mix_receptance.weight", {c, c}, 0.09f * wide, false));
    out.push_back(Matrix(p + "time_mix_key.weight", {c, c}, 0.06f * wide, false));
    out.push_back(Matrix(p + "time_mix_value.weight", {c, c}, 0.09f * wide, false));
    TensorRecipe output = Matrix(p + "time_mix_output.weight", {c, c}, 0.06f * wide, false);
    output.scale = rescale;
    out.push_back(std::move(output));
    out.push_back(Matrix(p + "time_mix_gate.weight", {c, c}, 0.06f * wide, false));

    const float ln_x_mean = static_cast<float>(std::pow(static_cast<double>(1 + l) / n_layer, 0.7));
    out.push_back(Vector(p + "time_mix_ln.weight", c, ln_x_mean, 0.1f));
    out.push_back(Vector(p + "time_mix_ln.bias", c, 0.0f, 0.05f));

    for (const char* name : {"channel_mix_lerp_k.weight", "channel_mix_lerp_r.weight"}) {
      TensorRecipe lerp = Vector(p + name, c, 0.0f, 0.1f);
      lerp.curve = [=](int64_t e) { return static_cast<float>(1.0 - ddd_pow(e, r1)); };
      ClipTo(lerp, 0.0f, 1.0f);
      out.push_back(std::move(lerp));
    }
    out.push_back(Matrix(p + "channel_mix_key.weight", {c, f}, 0.09f * wide, false));
    out.push_back(Matrix(p + "channel_mix_receptance.weight", {c, c}, 0.09f * wide, false));
    TensorRecipe value = Matrix(p + "channel_mix_value.weight", {f, c}, 0.03f * wide, false);
    value.scale = rescale;
    out.push_back(std::move(value));
  }

  out.push_back(Vector("output_norm.weight", c, 1.0f, 0.1f));
  out.push_back(Vector("output_norm.bias", c, 0.0f, 0.05f));
  out.push_back(Matrix("output.weight", {c, v}, 0.2f * wide, false));
  return out;
}

void FillValues(const TensorRecipe& recipe, uint64_t key, int64_t begin, int64_t count,
                float* out) {
  Xoshiro256 rng(key);
  const float mean = recipe.mean;
  const float stddev = recipe.stddev;
  if (!recipe.curve && !recipe.clip && recipe.scale == 1.0f) {
    for (int64_t i = 0; i < count; ++i) out[i] = mean + stddev * rng.ApproxNormal();
    return;
  }
  for (int64_t i = 0; i < count; ++i) {
    float v = mean + stddev * rng.ApproxNormal();
    if (recipe.curve) v += recipe.curve(begin + i);
    if (recipe.clip) v = std::clamp(v, recipe.lo, recipe.hi);
    out[i] = v * recipe.scale;
  }
}

}  // namespace rwkv::engine::synth
