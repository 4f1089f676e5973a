#include "backend/cuda/pdl.cuh"

#include <cstdlib>
#include <string_view>

#include "backend/cuda/op_profile.h"

namespace rwkv::engine::cuda {

bool ChainedLaunchEnabled() {
  static const bool allowed = [] {
    // The per-op profile times each kernel between two events: kernels that overlap their
    // neighbours would blur it.
    if (OpProfile::Enabled()) return false;
    const char* env = std::getenv("RWKV_CUDA_PDL");
    return env == nullptr || std::string_view(env) != "0";
  }();
  if (!allowed) return false;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return false;
  thread_local int cached_device = -1;
  thread_local bool cached = false;
  if (device != cached_device) {
    int major = 0;
    cached =
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess &&
        major >= 9;
    cached_device = device;
  }
  return cached;
}

}  // namespace rwkv::engine::cuda
