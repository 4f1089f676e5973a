#version 450
// The row-wise elementwise ops, chosen by `op`. x: columns, y: rows.
//   0 Lerp:   out = a + b · (vec + c)   (c optional: has_c)
//   1 Decay:  out = exp(-exp(vec + out))
//   2 MulAdd: out += a · b
//   3 Scale:  out *= scalar
//   4 Copy:   out[r] = a[index[r]] (index optional: then a[first + r])
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Params {
  uint64_t out_;
  uint64_t a;
  uint64_t b;
  uint64_t c;
  uint64_t vec;
  uint64_t index;
  int op;
  int cols;
  int rows;
  int out_stride;
  int a_stride;
  int b_stride;
  int c_stride;
  float scalar;
  int first;
} p;

void main() {
  const int i = int(gl_GlobalInvocationID.x);
  const int r = int(gl_GlobalInvocationID.y);
  if (i >= p.cols || r >= p.rows) return;
  const uint64_t o = RowAddr(p.out_, r, p.out_stride);
  if (p.op == 0) {
    const float m = p.c != 0ul ? LoadF(p.vec, i) + LoadF(RowAddr(p.c, r, p.c_stride), i)
                               : LoadF(p.vec, i);
    StoreF(o, i, LoadF(RowAddr(p.a, r, p.a_stride), i) + LoadF(RowAddr(p.b, r, p.b_stride), i) * m);
  } else if (p.op == 1) {
    StoreF(o, i, exp(-exp(LoadF(p.vec, i) + LoadF(o, i))));
  } else if (p.op == 2) {
    StoreF(o, i, LoadF(o, i) + LoadF(RowAddr(p.a, r, p.a_stride), i) * LoadF(RowAddr(p.b, r, p.b_stride), i));
  } else if (p.op == 3) {
    StoreF(o, i, LoadF(o, i) * p.scalar);
  } else {
    const int src = p.index != 0ul ? Ints(p.index).v[r] : p.first + r;
    StoreF(o, i, LoadF(RowAddr(p.a, src, p.a_stride), i));
  }
}
