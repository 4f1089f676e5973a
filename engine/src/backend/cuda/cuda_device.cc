#include "backend/cuda/cuda_device.h"

#include <cuda_runtime.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/cuda_stream.h"

namespace rwkv::engine::cuda {
namespace {

class CudaBuffer final : public backend::Buffer {
 public:
  CudaBuffer(int device, backend::BufferKind kind, uint64_t size, void* data)
      : device_(device), kind_(kind), size_(size), data_(data) {}
  ~CudaBuffer() override {
    cudaSetDevice(device_);
    cudaFree(data_);
  }

  backend::BufferKind kind() const override { return kind_; }
  uint64_t size() const override { return size_; }
  void* base() override { return data_; }
  absl::Status Upload(uint64_t offset, std::span<const uint8_t> bytes) override {
    if (offset + bytes.size() > size_) return absl::OutOfRangeError("cuda buffer: upload past end");
    cudaSetDevice(device_);
    return CudaStatus(cudaMemcpy(static_cast<uint8_t*>(data_) + offset, bytes.data(), bytes.size(),
                                 cudaMemcpyHostToDevice),
                      "buffer upload");
  }
  absl::Status Download(uint64_t offset, std::span<uint8_t> bytes) const override {
    if (offset + bytes.size() > size_) {
      return absl::OutOfRangeError("cuda buffer: download past end");
    }
    cudaSetDevice(device_);
    return CudaStatus(cudaMemcpy(bytes.data(), static_cast<const uint8_t*>(data_) + offset,
                                 bytes.size(), cudaMemcpyDeviceToHost),
                      "buffer download");
  }

 private:
  int device_;
  backend::BufferKind kind_;
  uint64_t size_;
  void* data_;
};

class CudaDevice final : public backend::Device {
 public:
  CudaDevice(int index, const cudaDeviceProp& prop, bool keep_states)
      : index_(index), prop_(prop), keep_states_(keep_states) {}
  ~CudaDevice() override {
    cudaSetDevice(index_);
    for (void* p : weights_) cudaFree(p);
  }

  std::string name() const override { return "cuda"; }
  std::string description() const override {
    return absl::StrFormat("cuda %s (device %d, %.1f GiB, sm_%d%d)", prop_.name, index_,
                           static_cast<double>(prop_.totalGlobalMem) / (1ull << 30), prop_.major,
                           prop_.minor);
  }
  int threads() const override { return 1; }
  bool SupportsWeightType(GgmlType type) const override {
    return KernelSupportsType(static_cast<uint32_t>(type));
  }
  bool SupportsHeadSize(int64_t head_size) const override { return head_size > 0; }

  absl::StatusOr<backend::WeightView> PrepareWeight(const GgufTensorInfo& t) override {
    if (!SupportsWeightType(t.type)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", t.name, ": type ",
                                                     std::string(GgmlTypeName(t.type)),
                                                     " is not supported by the cuda backend"));
    }
    cudaSetDevice(index_);
    void* p = nullptr;
    if (absl::Status s = CudaStatus(cudaMalloc(&p, t.size_bytes == 0 ? 256 : t.size_bytes),
                                    absl::StrCat("weight ", t.name));
        !s.ok()) {
      return s;
    }
    weights_.push_back(p);
    if (absl::Status s = CudaStatus(cudaMemcpy(p, t.data, t.size_bytes, cudaMemcpyHostToDevice),
                                    absl::StrCat("upload ", t.name));
        !s.ok()) {
      return s;
    }
    backend::WeightView v;
    v.type = t.type;
    v.cols = t.ne[0];
    v.rows = t.ne[1] * t.ne[2] * t.ne[3];
    v.row_bytes = RowBytes(t.type, t.ne[0]);
    v.data = p;
    return v;
  }

  absl::StatusOr<std::unique_ptr<backend::Buffer>> Allocate(backend::BufferKind kind,
                                                            uint64_t bytes) override {
    cudaSetDevice(index_);
    void* p = nullptr;
    const uint64_t rounded = bytes == 0 ? 256 : (bytes + 255) / 256 * 256;
    if (absl::Status s = CudaStatus(cudaMalloc(&p, rounded), absl::StrCat("allocate ", bytes));
        !s.ok()) {
      return s;
    }
    if (absl::Status s = CudaStatus(cudaMemset(p, 0, rounded), "memset"); !s.ok()) {
      cudaFree(p);
      return s;
    }
    return std::make_unique<CudaBuffer>(index_, kind, bytes, p);
  }

  std::unique_ptr<backend::Stream> CreateStream() override {
    return std::make_unique<CudaStream>(index_, keep_states_);
  }

 private:
  int index_;
  cudaDeviceProp prop_;
  bool keep_states_;
  std::vector<void*> weights_;
};

absl::StatusOr<int> DeviceCount() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later queries start clean
    return absl::UnavailableError(
        absl::StrCat("cuda: no usable GPU (", cudaGetErrorString(err), ")"));
  }
  if (count == 0) return absl::UnavailableError("cuda: no GPU found");
  return count;
}

}  // namespace

absl::StatusOr<std::unique_ptr<backend::Device>> CreateCudaDevice(
    const backend::DeviceOptions& options) {
  absl::StatusOr<int> count = DeviceCount();
  if (!count.ok()) return count.status();
  if (options.device < 0 || options.device >= *count) {
    return absl::InvalidArgumentError(
        absl::StrCat("cuda: device ", options.device, " out of range (", *count, " GPUs found)"));
  }
  cudaDeviceProp prop{};
  if (absl::Status s = CudaStatus(cudaGetDeviceProperties(&prop, options.device), "properties");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CudaStatus(cudaSetDevice(options.device), "set device"); !s.ok()) return s;
  return std::make_unique<CudaDevice>(options.device, prop, options.keep_states_on_device);
}

absl::StatusOr<std::vector<std::string>> ListCudaDevices() {
  absl::StatusOr<int> count = DeviceCount();
  if (!count.ok()) return count.status();
  std::vector<std::string> lines;
  for (int i = 0; i < *count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    lines.push_back(absl::StrFormat("%d: %s, %.1f GiB, sm_%d%d", i, prop.name,
                                    static_cast<double>(prop.totalGlobalMem) / (1ull << 30),
                                    prop.major, prop.minor));
  }
  return lines;
}

}  // namespace rwkv::engine::cuda
