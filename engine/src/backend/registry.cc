#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "backend/backend.h"
#include "backend/cpu/cpu_device.h"

namespace rwkv::engine::backend {

std::vector<std::string> AvailableBackends() { return {"cpu"}; }

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
  return absl::NotFoundError(absl::StrCat("backend '", std::string(backend),
                                          "' is not compiled into this build (available: cpu)"));
}

}  // namespace rwkv::engine::backend
