// Sum of one value per invocation over a 64-invocation workgroup, returned to every invocation.
shared float reduce_scratch[64];

float WorkgroupSum(float v) {
  const uint tid = gl_LocalInvocationID.x;
  reduce_scratch[tid] = v;
  barrier();
  for (uint stride = 32u; stride > 0u; stride /= 2u) {
    if (tid < stride) reduce_scratch[tid] += reduce_scratch[tid + stride];
    barrier();
  }
  const float total = reduce_scratch[0];
  barrier();  // the scratch is reused by the next call
  return total;
}
