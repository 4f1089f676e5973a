// Token sampling from a row of logits: penalties, truncation (top-k, top-p, min-p),
// temperature and a seeded random draw (docs/engine/sampling.md).
//
// Two styles share one parameter set:
//  * kLlamaCpp (llama-cli): repetition, presence and frequency penalties all count the
//    tokens in the last `repeat_last_n` accepted tokens; then top-k → top-p (over the
//    renormalised top-k) → min-p → temperature → draw.
//  * kRwkv (ChatRWKV pipeline): presence/frequency use occurrence counts that are multiplied
//    by `penalty_decay` after every accepted token (logit −= presence + occ·frequency for
//    every token seen so far); the repetition penalty, if not 1, still uses the window.
//    Truncation is top-p over the full distribution (ties at the cutoff survive) → top-k →
//    min-p → temperature (p^(1/T), the same as softmax(logit/T)) → draw.
//
// Temperature ≤ 0 means greedy: the highest logit after penalties and bans, ties → lowest id.
//
// Determinism: the generator is std::mt19937_64 seeded with `seed` (its output sequence is
// fixed by the C++ standard); a uniform double in [0, 1) is (x >> 11) · 2^-53. Weights use
// a built-in float exp (no libm), candidates are visited in an order fixed by the algorithm
// (ties between equal logits go to the lower id), so the same seed, parameters and logits
// give the same tokens on every platform.
//
// Cost for a 65,536-entry row: one pass for bans/penalties/argmax; top-k uses a bounded
// heap; top-p a mass histogram and a sort of only the cutoff band; no full sort.
//
// A Sampler is not thread-safe; use one per sequence.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"

namespace rwkv::engine {

enum class SamplingStyle { kLlamaCpp, kRwkv };

// Defaults are llama-cli's (Feb 2025 build).
struct SamplerParams {
  SamplingStyle style = SamplingStyle::kLlamaCpp;
  float temperature = 0.8f;  // ≤ 0: greedy
  int32_t top_k = 40;        // 0: off
  float top_p = 0.95f;       // 1: off; must be in (0, 1]
  float min_p = 0.05f;       // 0: off; keeps p ≥ min_p · p_max
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  float penalty_decay = 0.996f;  // kRwkv only: occurrence counts ×decay per accepted token
  float repeat_penalty = 1.0f;   // 1: off; logit ≤ 0 → ×penalty, else ÷penalty
  int32_t repeat_last_n = 64;    // window of accepted tokens the window penalties count
  uint64_t seed = 0;
  std::vector<int32_t> banned_tokens;  // logits forced to −inf; ids ≥ the vocab are ignored

  // ChatRWKV's pip PIPELINE_ARGS defaults: T 1.0, top_p 0.85, top_k 0, α 0.2/0.2, decay 0.996.
  static SamplerParams RwkvDefaults();
};

// InvalidArgument naming the parameter: temperature NaN or < 0; top_k < 0; top_p outside
// (0, 1]; min_p outside [0, 1]; non-finite presence/frequency penalty; penalty_decay outside
// [0, 1]; repeat_penalty not finite and > 0; repeat_last_n < 0 or > 1<<20; a banned id < 0.
absl::Status ValidateSamplerParams(const SamplerParams& params);

class Sampler {
 public:
  explicit Sampler(SamplerParams params);

  // Picks a token from `logits` (one entry per vocabulary id). The span is modified in
  // place: bans and penalties are applied to it, NaN entries become −inf. Does not record
  // the token; call Accept() with the token that is actually used. An empty span returns −1.
  int32_t Sample(std::span<float> logits);

  // Records a token for the penalties (generated tokens; llama-cli also accepts the
  // prompt tokens). Negative ids are ignored.
  void Accept(int32_t token);

  // Forgets the penalty history; the generator keeps its position unless Reseed() is called.
  void Reset();
  void Reseed(uint64_t seed);

  const SamplerParams& params() const { return params_; }

  // One uniform double in [0, 1) from the generator (exposed for tests and tools).
  double NextUniform();

 private:
  struct Candidate {
    float logit;
    int32_t id;
  };

  // Higher logit first, then lower id: a strict weak ordering, so sorts are deterministic.
  static bool Before(const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  }

  void ApplyPenalties(std::span<float> logits) const;
  void CollectTopK(std::span<const float> logits, int32_t k);
  void KeepBest(int32_t k);
  void CollectAtLeast(std::span<const float> logits, float threshold);
  void CollectTopP(std::span<const float> logits, float max_logit);
  void CutSortedTopP(float max_logit);
  void CutMinP(float max_logit);
  int32_t DrawCandidates(float max_logit);
  int32_t DrawFull(std::span<const float> logits, float max_logit);

  SamplerParams params_;
  std::mt19937_64 rng_;
  std::deque<int32_t> window_;  // last repeat_last_n accepted tokens
  absl::flat_hash_map<int32_t, int32_t> window_counts_;
  absl::flat_hash_map<int32_t, float> occurrence_;  // kRwkv decayed counts
  std::vector<Candidate> candidates_;               // scratch, reused between calls
  std::vector<Candidate> band_;                     // scratch for the top-p cutoff band
  std::vector<float> weights_;                      // scratch
};

}  // namespace rwkv::engine
