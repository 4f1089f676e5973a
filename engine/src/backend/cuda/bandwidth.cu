// Device-memory read bandwidth, the denominator of `rwkv bench`'s roofline on a GPU.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_kernels.h"

namespace rwkv::engine::cuda {
namespace {

__global__ void ReadKernel(const uint4* data, uint64_t n, unsigned* sink) {
  unsigned acc = 0;
  for (uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    const uint4 v = data[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x9e3779b9u) *sink = acc;  // keeps the loads; practically never stores
}

}  // namespace

double MeasureReadBandwidth(int device, uint64_t bytes) {
  if (cudaSetDevice(device) != cudaSuccess) return 0.0;
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  void* buf = nullptr;
  unsigned* sink = nullptr;
  if (cudaMalloc(&buf, bytes) != cudaSuccess) return 0.0;
  if (cudaMalloc(&sink, sizeof(unsigned)) != cudaSuccess) {
    cudaFree(buf);
    return 0.0;
  }
  cudaMemset(buf, 1, bytes);
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  const uint64_t n = bytes / sizeof(uint4);
  double best = 0.0;
  for (int rep = 0; rep < 4; ++rep) {
    cudaEventRecord(start);
    ReadKernel<<<sms * 8, 512>>>(static_cast<const uint4*>(buf), n, sink);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, start, stop);
    if (rep > 0 && ms > 0.0f) {
      best = std::max(best, static_cast<double>(n * sizeof(uint4)) / (ms * 1e-3) / 1e9);
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(sink);
  cudaFree(buf);
  return cudaGetLastError() == cudaSuccess ? best : 0.0;
}

}  // namespace rwkv::engine::cuda
