#version 450
// out[i] = row tokens[i] of the table, dequantized. x: 32-element chunks, y: tokens.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "dequant.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Params {
  uint64_t table;
  uint64_t tokens;  // int32 ids
  uint64_t out_;
  uint64_t row_bytes;
  int cols;
  int n_tokens;
  int out_stride;
} p;

void main() {
  const int ch = int(gl_GlobalInvocationID.x);
  const int t = int(gl_GlobalInvocationID.y);
  if (ch * 32 >= p.cols || t >= p.n_tokens) return;
  const int token = Ints(p.tokens).v[t];
  float w[32];
  DequantChunk(p.table + uint64_t(token) * p.row_bytes, ch, p.cols, w);
  const uint64_t o = RowAddr(p.out_, t, p.out_stride);
  const int count = min(32, p.cols - ch * 32);
  for (int e = 0; e < count; ++e) StoreF(o, ch * 32 + e, w[e]);
}
