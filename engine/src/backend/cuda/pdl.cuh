// Programmatic dependent launch (Hopper and later): a kernel launched with LaunchChained may
// start while the kernel before it on the stream still runs, so its launch latency overlaps
// that kernel's tail. Such a kernel calls ChainedWait() before it touches anything an earlier
// kernel writes or reads (reads of weights, which no kernel writes, may come before), and
// ChainedRelease() early so that the kernel after it can be scheduled in turn. On older GPUs,
// or with RWKV_CUDA_PDL=0, LaunchChained is a plain launch and both calls do nothing.
#pragma once

#include <cuda_runtime.h>

#include <utility>

namespace rwkv::engine::cuda {

__device__ __forceinline__ void ChainedRelease() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void ChainedWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Whether the current device takes programmatic launches (compute capability 9.0 or later) and
// RWKV_CUDA_PDL is not 0.
bool ChainedLaunchEnabled();

template <typename... KernelArgs, typename... Args>
void LaunchChained(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, cudaStream_t stream,
                   Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attr;
  config.numAttrs = ChainedLaunchEnabled() ? 1 : 0;
  cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

}  // namespace rwkv::engine::cuda
