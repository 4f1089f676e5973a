#include "services/cli/backend_choice.h"

#include <cstdio>

#include "rwkv/engine/devices.h"

namespace rwkv::cli {

std::string ChooseBackend(const std::string& command, const std::string& backend,
                          int64_t gpu_layers) {
  if (!backend.empty()) return backend;
  if (gpu_layers <= 0) return "cpu";
  std::string why;
  const std::string gpu = engine::FirstGpuBackend(&why);
  if (gpu.empty()) {
    std::fprintf(stderr, "rwkv %s: -ngl %lld: no GPU available (%s); running on the cpu\n",
                 command.c_str(), static_cast<long long>(gpu_layers), why.c_str());
    return "cpu";
  }
  std::fprintf(stderr, "rwkv %s: -ngl %lld: running every layer on %s\n", command.c_str(),
               static_cast<long long>(gpu_layers), gpu.c_str());
  return gpu;
}

}  // namespace rwkv::cli
