#version 450
// y[n][m] (+)= epilogue(Σ_k w[m][k]·x[n][k]). One workgroup per weight row and tile of up to
// kCols activation columns: each invocation dequantizes 32-element chunks of the row once and
// multiplies them with every column of the tile; the partial sums are reduced in shared memory.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "dequant.glsl"

layout(local_size_x = 64) in;
const int kThreads = 64;
const int kCols = 8;

layout(push_constant) uniform Params {
  uint64_t w;
  uint64_t x;
  uint64_t y;
  uint64_t row_bytes;
  int k;
  int rows;
  int n;
  int x_stride;
  int y_stride;
  int epilogue;  // backend::Epilogue
  int accumulate;
} p;

shared float partial[kCols][kThreads];

float Epilogue(float v) {
  if (p.epilogue == 1) return tanh(clamp(v, -10.0, 10.0));
  if (p.epilogue == 2) return 1.0 / (1.0 + exp(-v));
  if (p.epilogue == 3) return v / (1.0 + exp(-v));
  if (p.epilogue == 4) { const float r = max(v, 0.0); return r * r; }
  return v;
}

void main() {
  const int row = int(gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x);
  if (row >= p.rows) return;  // uniform over the workgroup
  const int tid = int(gl_LocalInvocationID.x);
  const int c0 = int(gl_WorkGroupID.z) * kCols;
  const int nc = min(kCols, p.n - c0);
  float acc[kCols];
  for (int c = 0; c < kCols; ++c) acc[c] = 0.0;
  const uint64_t wrow = p.w + uint64_t(row) * p.row_bytes;
  const int chunks = (p.k + 31) / 32;
  for (int ch = tid; ch < chunks; ch += kThreads) {
    float wv[32];
    DequantChunk(wrow, ch, p.k, wv);
    const int base = ch * 32;
    const int count = min(32, p.k - base);
    for (int c = 0; c < nc; ++c) {
      const uint64_t xr = RowAddr(p.x, c0 + c, p.x_stride) + uint64_t(base) * 4ul;
      float s = 0.0;
      for (int e = 0; e < count; ++e) s += wv[e] * LoadF(xr, e);
      acc[c] += s;
    }
  }
  for (int c = 0; c < kCols; ++c) partial[c][tid] = acc[c];
  barrier();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (tid < stride) {
      for (int c = 0; c < kCols; ++c) partial[c][tid] += partial[c][tid + stride];
    }
    barrier();
  }
  if (tid < nc) {
    const uint64_t yr = RowAddr(p.y, c0 + tid, p.y_stride);
    const float v = Epilogue(partial[tid][0]);
    StoreF(yr, row, p.accumulate != 0 ? LoadF(yr, row) + v : v);
  }
}
