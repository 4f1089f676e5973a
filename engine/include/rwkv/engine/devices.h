// What each compiled-in backend sees on this machine (`rwkv devices`, `-ngl`).
#pragma once

#include <string>
#include <vector>

namespace rwkv::engine {

struct BackendDevices {
  std::string backend;               // "cpu", "cuda"
  std::vector<std::string> devices;  // one line per device
  std::string unavailable;           // why there is none (no driver, no GPU), else empty
};

// Every backend compiled into this build, "cpu" first.
std::vector<BackendDevices> ListBackendDevices();

// The first GPU backend compiled in with a device present, or empty; `why` receives the
// reason when there is none.
std::string FirstGpuBackend(std::string* why);

// Read bandwidth of a GPU backend's device memory in GB/s (1e9 bytes), measured with a
// `bytes` buffer, best of three passes; 0 for the CPU backends or when no device is present.
double MeasureDeviceReadBandwidth(const std::string& backend, int device, uint64_t bytes);

}  // namespace rwkv::engine
