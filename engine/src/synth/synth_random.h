// Deterministic, fast random numbers for synthetic weights: splitmix64 to derive stream keys,
// xoshiro256** for the streams, and an approximately normal draw from one 64-bit output.
#pragma once

#include <cstdint>

namespace rwkv::engine::synth {

// One splitmix64 step: advances `state` and returns a well-mixed 64-bit value.
inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The key of the stream for (seed, tensor, unit): distinct inputs give unrelated streams.
inline uint64_t StreamKey(uint64_t seed, uint64_t tensor, uint64_t unit) {
  uint64_t state = seed;
  uint64_t a = SplitMix64(state);
  state = a ^ (tensor * 0xD1B54A32D192ED03ull);
  uint64_t b = SplitMix64(state);
  state = b ^ (unit * 0xAEF17502108EF2D9ull);
  return SplitMix64(state);
}

// xoshiro256** (Blackman and Vigna), seeded from a key through splitmix64.
class Xoshiro256 {
 public:
  explicit Xoshiro256(uint64_t key) {
    uint64_t state = key;
    for (uint64_t& word : s_) word = SplitMix64(state);
  }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Mean 0, variance 1: the sum of four 16-bit uniforms (k + 0.5) / 65536, centred and
  // scaled by sqrt(12/4). Bounded by ±2·sqrt(3); every step is exact in float, so the
  // value does not depend on the compiler's floating-point contraction.
  float ApproxNormal() {
    const uint64_t r = Next();
    const uint32_t sum = static_cast<uint32_t>((r & 0xFFFF) + ((r >> 16) & 0xFFFF) +
                                               ((r >> 32) & 0xFFFF) + (r >> 48));
    constexpr float kScale = 1.7320508075688772f / 65536.0f;
    return (static_cast<float>(static_cast<int32_t>(sum) - 131070)) * kScale;
  }

  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace rwkv::engine::synth
