#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "backend/backend.h"
#include "backend/cpu/cpu_device.h"
#if defined(RWKV_WITH_VULKAN)
#include "backend/vulkan/vulkan_device.h"
#endif

namespace rwkv::engine::backend {

std::vector<std::string> AvailableBackends() {
  std::vector<std::string> backends = {"cpu"};
#if defined(RWKV_WITH_VULKAN)
  backends.push_back("vulkan");
#endif
  return backends;
}

namespace {

// "cpu-scalar", "cpu-avx2", "cpu-avx512" force one kernel table (parity tests, benchmarks).
std::optional<cpu::Isa> ForcedIsa(std::string_view backend) {
  for (cpu::Isa isa : {cpu::Isa::kScalar, cpu::Isa::kAvx2, cpu::Isa::kAvx512}) {
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
  return absl::NotFoundError(absl::StrCat("backend '", std::string(backend),
                                          "' is not compiled into this build (available: ",
                                          absl::StrJoin(AvailableBackends(), ", "), ")"));
}

}  // namespace rwkv::engine::backend
