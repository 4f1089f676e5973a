#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "backend/backend.h"
#include "backend/cpu/cpu_device.h"
#if defined(RWKV_WITH_VULKAN)
#include "backend/vulkan/vulkan_device.h"
#endif
#include "rwkv/engine/devices.h"
#ifdef RWKV_WITH_CUDA
#include "backend/cuda/cuda_device.h"
#include "backend/cuda/cuda_kernels.h"
#endif

namespace rwkv::engine {
namespace backend {

std::vector<std::string> AvailableBackends() {
  std::vector<std::string> names = {"cpu"};
#ifdef RWKV_WITH_CUDA
  names.push_back("cuda");
#endif
#if defined(RWKV_WITH_VULKAN)
  names.push_back("vulkan");
#endif
  return names;
}

namespace {

// "cpu-scalar", "cpu-avx2", "cpu-avxvnni", "cpu-avx512" force one kernel table (parity tests,
// benchmarks).
std::optional<cpu::Isa> ForcedIsa(std::string_view backend) {
  for (cpu::Isa isa : {cpu::Isa::kScalar, cpu::Isa::kAvx2, cpu::Isa::kAvxVnni, cpu::Isa::kAvx512}) {
    if (backend == std::string("cpu-") + std::string(cpu::IsaName(isa))) return isa;
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Device>> CreateDevice(std::string_view backend,
                                                     const DeviceOptions& options) {
  if (backend == "cpu") return cpu::CreateCpuDevice(options);
  if (std::optional<cpu::Isa> isa = ForcedIsa(backend)) return cpu::CreateCpuDevice(options, isa);
#if defined(RWKV_WITH_VULKAN)
  if (backend == "vulkan") return vulkan::CreateVulkanDevice(options);
#endif
#ifdef RWKV_WITH_CUDA
  if (backend == "cuda") return cuda::CreateCudaDevice(options);
#endif
  return absl::NotFoundError(absl::StrCat("backend '", std::string(backend),
                                          "' is not compiled into this build (available: ",
                                          absl::StrJoin(AvailableBackends(), ", "), ")"));
}

}  // namespace backend

std::vector<BackendDevices> ListBackendDevices() {
  std::vector<BackendDevices> out;
  BackendDevices cpu{"cpu", {}, ""};
  absl::StatusOr<std::unique_ptr<backend::Device>> dev =
      backend::CreateDevice("cpu", backend::DeviceOptions{});
  if (dev.ok()) {
    // The description names the default precision; say what the other one does.
    cpu.devices.push_back(absl::StrCat((*dev)->description(),
                                       " (--precision fast: 8-bit activations for Q8_0, Q4_0, "
                                       "Q4_1, Q5_0, Q5_1, Q4_K and Q5_K weights)"));
  } else {
    cpu.unavailable = std::string(dev.status().message());
  }
  out.push_back(std::move(cpu));
#ifdef RWKV_WITH_CUDA
  BackendDevices gpu{"cuda", {}, ""};
  absl::StatusOr<std::vector<std::string>> lines = cuda::ListCudaDevices();
  if (lines.ok()) {
    gpu.devices = std::move(*lines);
  } else {
    gpu.unavailable = std::string(lines.status().message());
  }
  out.push_back(std::move(gpu));
#endif
  return out;
}

std::string FirstGpuBackend(std::string* why) {
  std::string reasons;
  for (const BackendDevices& b : ListBackendDevices()) {
    if (b.backend == "cpu") continue;
    if (!b.devices.empty()) return b.backend;
    if (!reasons.empty()) reasons += "; ";
    reasons += b.unavailable;
  }
  if (why != nullptr)
    *why = reasons.empty() ? "no GPU backend is compiled into this build" : reasons;
  return "";
}

double MeasureDeviceReadBandwidth(const std::string& backend, int device, uint64_t bytes) {
#ifdef RWKV_WITH_CUDA
  if (backend == "cuda") return cuda::MeasureReadBandwidth(device, bytes);
#endif
  return 0.0;
}

}  // namespace rwkv::engine
