#include "rwkv/engine/sampler.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace rwkv::engine {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int32_t kMaxRepeatWindow = 1 << 20;

bool IsFinite(float v) { return std::isfinite(v); }

// exp(x) for x <= 0 in plain float arithmetic (no libm call, so the loops vectorise and the
// result does not depend on the platform's libm): Cody-Waite reduction to |f| <= 0.35 and a
// degree-6 Taylor polynomial, relative error about 2e-7. Returns 0 below -87.
inline float FastExp(float x) {
  const float xc = std::max(x, -87.0f);
  const int32_t n = static_cast<int32_t>(xc * 1.44269504f - 0.5f);  // xc <= 0: nearest-ish
  const float nf = static_cast<float>(n);
  const float f = (xc - nf * 0.693145751953125f) - nf * 1.428606765330187e-06f;
  float p = 1.0f / 720.0f;
  p = p * f + 1.0f / 120.0f;
  p = p * f + 1.0f / 24.0f;
  p = p * f + 1.0f / 6.0f;
  p = p * f + 0.5f;
  p = p * f + 1.0f;
  p = p * f + 1.0f;
  uint32_t bits = static_cast<uint32_t>(n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return x > -87.0f ? p * scale : 0.0f;
}

// Sum with four interleaved accumulators: a fixed order (deterministic) that does not
// serialise on one addition chain.
double SumWeights(const float* w, size_t n) {
  double acc[4] = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    acc[0] += w[i];
    acc[1] += w[i + 1];
    acc[2] += w[i + 2];
    acc[3] += w[i + 3];
  }
  for (; i < n; ++i) acc[0] += w[i];
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

}  // namespace

SamplerParams SamplerParams::RwkvDefaults() {
  SamplerParams p;
  p.style = SamplingStyle::kRwkv;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 0.85f;
  p.min_p = 0.0f;
  p.presence_penalty = 0.2f;
  p.frequency_penalty = 0.2f;
  p.penalty_decay = 0.996f;
  p.repeat_penalty = 1.0f;
  return p;
}

absl::Status ValidateSamplerParams(const SamplerParams& p) {
  if (std::isnan(p.temperature) || p.temperature < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler temperature must be >= 0, got ", p.temperature));
  }
  if (p.top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("sampler top_k must be >= 0, got ", p.top_k));
  }
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler top_p must be in (0, 1], got ", p.top_p));
  }
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler min_p must be in [0, 1], got ", p.min_p));
  }
  if (!IsFinite(p.presence_penalty)) {
    return absl::InvalidArgumentError("sampler presence_penalty must be finite");
  }
  if (!IsFinite(p.frequency_penalty)) {
    return absl::InvalidArgumentError("sampler frequency_penalty must be finite");
  }
  if (!(p.penalty_decay >= 0.0f && p.penalty_decay <= 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler penalty_decay must be in [0, 1], got ", p.penalty_decay));
  }
  if (!IsFinite(p.repeat_penalty) || p.repeat_penalty <= 0.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler repeat_penalty must be finite and > 0, got ", p.repeat_penalty));
  }
  if (p.repeat_last_n < 0 || p.repeat_last_n > kMaxRepeatWindow) {
    return absl::InvalidArgumentError(absl::StrCat("sampler repeat_last_n must be in [0, ",
                                                   kMaxRepeatWindow, "], got ", p.repeat_last_n));
  }
  for (int32_t id : p.banned_tokens) {
    if (id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("sampler banned token id ", id, " is negative"));
    }
  }
  return absl::OkStatus();
}

Sampler::Sampler(SamplerParams params) : params_(std::move(params)), rng_(params_.seed) {}

void Sampler::Reset() {
  window_.clear();
  window_counts_.clear();
  occurrence_.clear();
}

void Sampler::Reseed(uint64_t seed) {
  params_.seed = seed;
  rng_.seed(seed);
}

double Sampler::NextUniform() {
  return static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0);
}

void Sampler::Accept(int32_t token) {
  if (token < 0) return;
  if (params_.repeat_last_n > 0) {
    window_.push_back(token);
    ++window_counts_[token];
    if (window_.size() > static_cast<size_t>(params_.repeat_last_n)) {
      const int32_t old = window_.front();
      window_.pop_front();
      auto it = window_counts_.find(old);
      if (--it->second == 0) window_counts_.erase(it);
    }
  }
  if (params_.style == SamplingStyle::kRwkv) {
    for (auto& [id, occ] : occurrence_) occ *= params_.penalty_decay;
    occurrence_[token] += 1.0f;
  }
}

void Sampler::ApplyPenalties(std::span<float> logits) const {
  const int64_t n = static_cast<int64_t>(logits.size());
  const float rp = params_.repeat_penalty;
  if (rp != 1.0f) {
    for (const auto& [id, count] : window_counts_) {
      if (id >= n) continue;
      float& l = logits[id];
      l = l <= 0.0f ? l * rp : l / rp;
    }
  }
  const float presence = params_.presence_penalty;
  const float frequency = params_.frequency_penalty;
  if (presence == 0.0f && frequency == 0.0f) return;
  if (params_.style == SamplingStyle::kLlamaCpp) {
    for (const auto& [id, count] : window_counts_) {
      if (id >= n) continue;
      logits[id] -= static_cast<float>(count) * frequency + presence;
    }
  } else {
    for (const auto& [id, occ] : occurrence_) {
      if (id >= n) continue;
      logits[id] -= presence + occ * frequency;
    }
  }
}

int32_t Sampler::Sample(std::span<float> logits) {
  const int64_t n = static_cast<int64_t>(logits.size());
  if (n == 0) return -1;
  for (int32_t id : params_.banned_tokens) {
    if (id >= 0 && id < n) logits[id] = kNegInf;
  }
  ApplyPenalties(logits);

  int32_t best = 0;
  float max_logit = kNegInf;
  for (int64_t i = 0; i < n; ++i) {
    float& l = logits[i];
    if (std::isnan(l)) l = kNegInf;
    if (l > max_logit) {
      max_logit = l;
      best = static_cast<int32_t>(i);
    }
  }
  // NaN temperature is treated like 0; a row with no finite logit has nothing to draw from.
  if (!(params_.temperature > 0.0f) || max_logit == kNegInf) return best;

  const int32_t k = (params_.top_k > 0 && params_.top_k < n) ? params_.top_k : 0;
  const bool use_top_p = params_.top_p < 1.0f;
  const bool use_min_p = params_.min_p > 0.0f;
  if (k == 0 && !use_top_p && !use_min_p) return DrawFull(logits, max_logit);

  candidates_.clear();
  if (params_.style == SamplingStyle::kLlamaCpp && k > 0) {
    CollectTopK(logits, k);
    if (use_top_p) CutSortedTopP(max_logit);
  } else if (use_top_p) {
    CollectTopP(logits, max_logit);
    if (k > 0 && candidates_.size() > static_cast<size_t>(k)) KeepBest(k);
  } else if (k > 0) {
    CollectTopK(logits, k);
  } else {
    CollectAtLeast(logits, max_logit + std::log(params_.min_p));
  }
  if (use_min_p) CutMinP(max_logit);
  return DrawCandidates(max_logit);
}

void Sampler::CollectTopK(std::span<const float> logits, int32_t k) {
  const int64_t n = static_cast<int64_t>(logits.size());
  if (static_cast<int64_t>(k) * 8 < n) {
    // A bounded heap whose front is the worst kept candidate: most logits are rejected by
    // a single comparison, which beats copying the whole row for small k.
    candidates_.reserve(k);
    for (int64_t i = 0; i < n; ++i) {
      const Candidate c{logits[i], static_cast<int32_t>(i)};
      if (candidates_.size() < static_cast<size_t>(k)) {
        candidates_.push_back(c);
        std::push_heap(candidates_.begin(), candidates_.end(), Before);
      } else if (Before(c, candidates_.front())) {
        std::pop_heap(candidates_.begin(), candidates_.end(), Before);
        candidates_.back() = c;
        std::push_heap(candidates_.begin(), candidates_.end(), Before);
      }
    }
    std::sort(candidates_.begin(), candidates_.end(), Before);
    return;
  }
  candidates_.resize(n);
  for (int64_t i = 0; i < n; ++i) candidates_[i] = {logits[i], static_cast<int32_t>(i)};
  KeepBest(k);
}

void Sampler::KeepBest(int32_t k) {
  std::nth_element(candidates_.begin(), candidates_.begin() + (k - 1), candidates_.end(), Before);
  candidates_.resize(k);
  std::sort(candidates_.begin(), candidates_.end(), Before);
}

void Sampler::CollectAtLeast(std::span<const float> logits, float threshold) {
  const int64_t n = static_cast<int64_t>(logits.size());
  for (int64_t i = 0; i < n; ++i) {
    if (logits[i] >= threshold) candidates_.push_back({logits[i], static_cast<int32_t>(i)});
  }
}

// Top-p over the whole row without sorting it. A histogram of the probability mass by
// distance below the maximum logit finds the band where the cumulative mass crosses top_p:
// every logit above that band is kept (in id order), and only the band itself is sorted to
// find the exact cut. The kept set is the sorted prefix llama.cpp and ChatRWKV keep; ties
// at the cutoff survive in the RWKV style.
void Sampler::CollectTopP(std::span<const float> logits, float max_logit) {
  constexpr int kBucketsPerUnit = 16;
  constexpr int kBuckets = 40 * kBucketsPerUnit;  // the last bucket holds everything further
  auto bucket_of = [max_logit](float l) {
    const float d = (max_logit - l) * kBucketsPerUnit;
    return d < kBuckets ? static_cast<int>(d) : kBuckets;
  };
  std::array<double, kBuckets + 1> mass{};
  const int64_t n = static_cast<int64_t>(logits.size());
  weights_.resize(n);
  for (int64_t i = 0; i < n; ++i) weights_[i] = FastExp(logits[i] - max_logit);
  const double total = SumWeights(weights_.data(), n);
  for (int64_t i = 0; i < n; ++i) mass[bucket_of(logits[i])] += weights_[i];
  const double needed = params_.top_p * total;
  int cut_bucket = 0;
  double cum = 0.0;
  while (cut_bucket < kBuckets && cum + mass[cut_bucket] < needed) cum += mass[cut_bucket++];

  band_.clear();
  for (int64_t i = 0; i < n; ++i) {
    const int b = bucket_of(logits[i]);
    if (b < cut_bucket) {
      candidates_.push_back({logits[i], static_cast<int32_t>(i)});
    } else if (b == cut_bucket) {
      band_.push_back({logits[i], static_cast<int32_t>(i)});
    }
  }
  std::sort(band_.begin(), band_.end(), Before);
  size_t keep = band_.size();
  for (size_t i = 0; i < band_.size(); ++i) {
    cum += FastExp(band_[i].logit - max_logit);
    if (cum >= needed) {
      keep = i + 1;
      break;
    }
  }
  if (params_.style == SamplingStyle::kRwkv) {
    while (keep < band_.size() && band_[keep].logit == band_[keep - 1].logit) ++keep;
  }
  candidates_.insert(candidates_.end(), band_.begin(), band_.begin() + keep);
}

// llama.cpp's top-p after top-k: the sorted candidates renormalised among themselves.
void Sampler::CutSortedTopP(float max_logit) {
  double total = 0.0;
  for (const Candidate& c : candidates_) total += FastExp(c.logit - max_logit);
  const double needed = params_.top_p * total;
  double cum = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    cum += FastExp(candidates_[i].logit - max_logit);
    if (cum >= needed) {
      candidates_.resize(i + 1);
      return;
    }
  }
}

void Sampler::CutMinP(float max_logit) {
  const float threshold = max_logit + std::log(params_.min_p);
  std::erase_if(candidates_, [threshold](const Candidate& c) { return c.logit < threshold; });
}

int32_t Sampler::DrawCandidates(float max_logit) {
  const float inv_t = 1.0f / params_.temperature;
  weights_.resize(candidates_.size());
  double total = 0.0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    weights_[i] = FastExp((candidates_[i].logit - max_logit) * inv_t);
    total += weights_[i];
  }
  const double target = NextUniform() * total;
  double cum = 0.0;
  int32_t last_positive = candidates_.front().id;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    if (weights_[i] <= 0.0f) continue;
    cum += weights_[i];
    last_positive = candidates_[i].id;
    if (cum > target) return last_positive;
  }
  return last_positive;
}

int32_t Sampler::DrawFull(std::span<const float> logits, float max_logit) {
  const float inv_t = 1.0f / params_.temperature;
  const size_t n = logits.size();
  weights_.resize(n);
  for (size_t i = 0; i < n; ++i) weights_[i] = FastExp((logits[i] - max_logit) * inv_t);
  const double total = SumWeights(weights_.data(), n);
  const double target = NextUniform() * total;
  double cum = 0.0;
  int32_t last_positive = 0;
  for (size_t i = 0; i < n; ++i) {
    if (weights_[i] <= 0.0f) continue;
    cum += weights_[i];
    last_positive = static_cast<int32_t>(i);
    if (cum > target) return last_positive;
  }
  return last_positive;
}

}  // namespace rwkv::engine
