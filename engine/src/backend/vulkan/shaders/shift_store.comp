#version 450
// Stores each sequence's last row of cur as its shift vector. x: columns, y: sequences.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Params {
  uint64_t cur;
  uint64_t seq_begin;
  uint64_t shift;
  int cols;
  int n_seq;
  int cur_stride;
  int seq_floats;
} p;

void main() {
  const int i = int(gl_GlobalInvocationID.x);
  const int s = int(gl_GlobalInvocationID.y);
  if (i >= p.cols || s >= p.n_seq) return;
  const int last = Ints(p.seq_begin).v[s + 1] - 1;
  StoreF(p.shift + uint64_t(s) * uint64_t(p.seq_floats) * 4ul, i,
         LoadF(RowAddr(p.cur, last, p.cur_stride), i));
}
