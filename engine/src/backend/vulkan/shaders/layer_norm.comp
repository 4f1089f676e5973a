#version 450
// out = LayerNorm(x) · w + b per row; one workgroup per row (x and out may alias).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "reduce.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Params {
  uint64_t x;
  uint64_t w;
  uint64_t b;
  uint64_t out_;
  int cols;
  int x_stride;
  int out_stride;
  float eps;
} p;

void main() {
  const int row = int(gl_WorkGroupID.x);
  const int tid = int(gl_LocalInvocationID.x);
  const uint64_t xr = RowAddr(p.x, row, p.x_stride);
  float s = 0.0;
  for (int i = tid; i < p.cols; i += 64) s += LoadF(xr, i);
  const float mean = WorkgroupSum(s) / float(p.cols);
  float s2 = 0.0;
  for (int i = tid; i < p.cols; i += 64) {
    const float d = LoadF(xr, i) - mean;
    s2 += d * d;
  }
  const float scale = 1.0 / sqrt(WorkgroupSum(s2) / float(p.cols) + p.eps);
  const uint64_t o = RowAddr(p.out_, row, p.out_stride);
  for (int i = tid; i < p.cols; i += 64) {
    StoreF(o, i, ((LoadF(xr, i) - mean) * scale) * LoadF(p.w, i) + LoadF(p.b, i));
  }
}
