#version 450
// y = (GroupNorm(y) · w + b) · gate over groups of `group` columns; one workgroup per
// (group, row).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "reduce.glsl"

layout(local_size_x = 64) in;

layout(push_constant) uniform Params {
  uint64_t y;
  uint64_t w;
  uint64_t b;
  uint64_t gate;
  int group;
  int y_stride;
  int gate_stride;
  float eps;
} p;

void main() {
  const int g = int(gl_WorkGroupID.x);
  const int row = int(gl_WorkGroupID.y);
  const int tid = int(gl_LocalInvocationID.x);
  const int c0 = g * p.group;
  const uint64_t yr = RowAddr(p.y, row, p.y_stride);
  const uint64_t gr = RowAddr(p.gate, row, p.gate_stride);
  float s = 0.0;
  for (int i = tid; i < p.group; i += 64) s += LoadF(yr, c0 + i);
  const float mean = WorkgroupSum(s) / float(p.group);
  float s2 = 0.0;
  for (int i = tid; i < p.group; i += 64) {
    const float d = LoadF(yr, c0 + i) - mean;
    s2 += d * d;
  }
  const float scale = 1.0 / sqrt(WorkgroupSum(s2) / float(p.group) + p.eps);
  for (int i = tid; i < p.group; i += 64) {
    const int c = c0 + i;
    const float n = (LoadF(yr, c) - mean) * scale;
    StoreF(yr, c, (n * LoadF(p.w, c) + LoadF(p.b, c)) * LoadF(gr, c));
  }
}
