#version 450
// The WKV6 recurrence: one workgroup per (head, sequence). Column j of a head's state
// (state[i][j] over keys i) depends only on v[j], so each invocation owns whole columns and
// runs the sequence's tokens in order without synchronisation.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Params {
  uint64_t r;
  uint64_t k;
  uint64_t v;
  uint64_t w;
  uint64_t y;
  uint64_t u;
  uint64_t state;      // wkv state of sequence 0 for this layer; sequence s at + s·seq_floats
  uint64_t seq_begin;
  int head_size;
  int stride;          // shared row stride of r, k, v, w, y
  int seq_floats;
} p;

void main() {
  const int h = int(gl_WorkGroupID.x);
  const int s = int(gl_WorkGroupID.y);
  const int S = p.head_size;
  const int r0 = Ints(p.seq_begin).v[s];
  const int r1 = Ints(p.seq_begin).v[s + 1];
  const uint64_t st = p.state + (uint64_t(s) * uint64_t(p.seq_floats) + uint64_t(h * S * S)) * 4ul;
  for (int j = int(gl_LocalInvocationID.x); j < S; j += 64) {
    for (int t = r0; t < r1; ++t) {
      const int row = t * p.stride + h * S;
      const float vj = LoadF(p.v, row + j);
      float yj = 0.0;
      for (int i = 0; i < S; ++i) {
        const float ki = LoadF(p.k, row + i);
        const float kv = ki * vj;
        const float sij = LoadF(st, i * S + j);
        yj += LoadF(p.r, row + i) * (LoadF(p.u, h * S + i) * kv + sij);
        StoreF(st, i * S + j, LoadF(p.w, row + i) * sij + kv);
      }
      StoreF(p.y, row + j, yj);
    }
  }
}
