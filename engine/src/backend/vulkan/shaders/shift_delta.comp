#version 450
// delta = previous - cur per row, where the previous row of a sequence's first row is the
// sequence's shift vector. x: columns, y: rows.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Params {
  uint64_t cur;
  uint64_t delta;
  uint64_t row_seq;    // int per row: its sequence
  uint64_t seq_begin;  // int per sequence + 1
  uint64_t shift;      // shift vector of sequence 0; sequence s at + s·seq_floats
  int cols;
  int rows;
  int cur_stride;
  int delta_stride;
  int seq_floats;
} p;

void main() {
  const int i = int(gl_GlobalInvocationID.x);
  const int r = int(gl_GlobalInvocationID.y);
  if (i >= p.cols || r >= p.rows) return;
  const int s = Ints(p.row_seq).v[r];
  const float prev = r == Ints(p.seq_begin).v[s]
                         ? LoadF(p.shift + uint64_t(s) * uint64_t(p.seq_floats) * 4ul, i)
                         : LoadF(RowAddr(p.cur, r - 1, p.cur_stride), i);
  StoreF(RowAddr(p.delta, r, p.delta_stride), i, prev - LoadF(RowAddr(p.cur, r, p.cur_stride), i));
}
