#version 450
// y[n][m] (+)= epilogue(Σ_k w[m][k]·x[n][k]). A workgroup takes 64 / lanes weight rows and a
// tile of up to kCols activation columns; the `lanes` invocations of a row (a power of two,
// about the row's number of 32-element chunks, so short rows do not leave invocations idle)
// dequantize its chunks once each and multiply them with every column of the tile, and their
// partial sums are reduced in shared memory.
#extension GL_GOOGLE_include_directive : require
#if defined(USE_SUBGROUPS)
// The host sets lanes to the device's (fixed) subgroup size: each subgroup is one row, summed
// with subgroupAdd, without shared memory or barriers.
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
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
  int lanes;  // invocations per row: a power of two dividing 64
} p;

#if !defined(USE_SUBGROUPS)
shared float partial[kCols][kThreads];
#endif

float Epilogue(float v) {
  if (p.epilogue == 1) return tanh(clamp(v, -10.0, 10.0));
  if (p.epilogue == 2) return 1.0 / (1.0 + exp(-v));
  if (p.epilogue == 3) return v / (1.0 + exp(-v));
  if (p.epilogue == 4) { const float r = max(v, 0.0); return r * r; }
  return v;
}

void main() {
  const int tid = int(gl_LocalInvocationID.x);
  const int lane = tid % p.lanes;
  const int group = int(gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x);
  const int row = group * (kThreads / p.lanes) + tid / p.lanes;
  const bool in_range = row < p.rows;
  const int c0 = int(gl_WorkGroupID.z) * kCols;
  const int nc = min(kCols, p.n - c0);
  float acc[kCols];
  for (int c = 0; c < kCols; ++c) acc[c] = 0.0;
  const uint64_t wrow = p.w + uint64_t(row) * p.row_bytes;
  const int chunks = in_range ? (p.k + 31) / 32 : 0;
  for (int ch = lane; ch < chunks; ch += p.lanes) {
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
#if defined(USE_SUBGROUPS)
  for (int c = 0; c < kCols; ++c) acc[c] = subgroupAdd(acc[c]);
  for (int c = lane; in_range && c < nc; c += p.lanes) {
    const uint64_t yr = RowAddr(p.y, c0 + c, p.y_stride);
    const float v = Epilogue(acc[c]);
    StoreF(yr, row, p.accumulate != 0 ? LoadF(yr, row) + v : v);
  }
#else
  for (int c = 0; c < kCols; ++c) partial[c][tid] = acc[c];
  barrier();
  for (int stride = p.lanes / 2; stride > 0; stride /= 2) {
    if (lane < stride) {
      for (int c = 0; c < kCols; ++c) partial[c][tid] += partial[c][tid + stride];
    }
    barrier();
  }
  // Lane c of the row stores column c (rows with fewer lanes than columns loop).
  for (int c = lane; in_range && c < nc; c += p.lanes) {
    const uint64_t yr = RowAddr(p.y, c0 + c, p.y_stride);
    const float v = Epilogue(partial[c][tid - lane]);
    StoreF(yr, row, p.accumulate != 0 ? LoadF(yr, row) + v : v);
  }
#endif
}
