#include "absl/strings/str_cat.h"
#include "backend/backend.h"
#include "backend/cpu/cpu_device.h"

namespace rwkv::engine::backend {

std::vector<std::string> AvailableBackends() { return {"cpu"}; }

absl::StatusOr<std::unique_ptr<Device>> CreateDevice(std::string_view backend,
                                                     const DeviceOptions& options) {
  if (backend == "cpu") return cpu::CreateCpuDevice(options);
  return absl::NotFoundError(
      absl::StrCat("backend '", std::string(backend), "' is not compiled into this build (available: cpu)"));
}

}  // namespace rwkv::engine::backend
