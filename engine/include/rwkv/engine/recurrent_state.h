// The recurrent state of one RWKV-6 sequence, in llama.cpp's layout (docs/engine/forward-pass.md,
// "State layout").
#pragma once

#include <cstdint>
#include <vector>

namespace rwkv::engine {

struct StateShape {
  uint32_t n_layer = 0;
  uint32_t n_embd = 0;     // C
  uint32_t head_size = 0;  // S; heads H = C / S

  uint64_t shift_floats_per_layer() const { return 2ull * n_embd; }
  uint64_t wkv_floats_per_layer() const { return static_cast<uint64_t>(n_embd) * head_size; }
  bool operator==(const StateShape&) const = default;
};

struct RecurrentState {
  StateShape shape;
  // [layer][2C]: floats [0, C) are att_shift (ln1 output of the last token),
  // [C, 2C) are ffn_shift (ln2 output of the last token).
  std::vector<float> shift;
  // [layer][head][key i][value j], f32.
  std::vector<float> wkv;

  // All-zero state of the given shape.
  static RecurrentState Zero(const StateShape& shape) {
    RecurrentState s;
    s.shape = shape;
    s.shift.assign(shape.n_layer * shape.shift_floats_per_layer(), 0.0f);
    s.wkv.assign(shape.n_layer * shape.wkv_floats_per_layer(), 0.0f);
    return s;
  }
  uint64_t bytes() const { return (shift.size() + wkv.size()) * sizeof(float); }
};

}  // namespace rwkv::engine
