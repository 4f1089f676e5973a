#include "backend/cpu/cpu_device.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "backend/cpu/cpu_stream.h"
#include "backend/cpu/thread_pool.h"

namespace rwkv::engine::cpu {
namespace {

class CpuBuffer final : public backend::Buffer {
 public:
  CpuBuffer(backend::BufferKind kind, uint64_t size, void* data)
      : kind_(kind), size_(size), data_(data) {}
  ~CpuBuffer() override { std::free(data_); }

  backend::BufferKind kind() const override { return kind_; }
  uint64_t size() const override { return size_; }
  void* base() override { return data_; }
  absl::Status Upload(uint64_t offset, std::span<const uint8_t> bytes) override {
    if (offset + bytes.size() > size_) return absl::OutOfRangeError("cpu buffer: upload past end");
    std::memcpy(static_cast<uint8_t*>(data_) + offset, bytes.data(), bytes.size());
    return absl::OkStatus();
  }
  absl::Status Download(uint64_t offset, std::span<uint8_t> bytes) const override {
    if (offset + bytes.size() > size_) {
      return absl::OutOfRangeError("cpu buffer: download past end");
    }
    std::memcpy(bytes.data(), static_cast<const uint8_t*>(data_) + offset, bytes.size());
    return absl::OkStatus();
  }

 private:
  backend::BufferKind kind_;
  uint64_t size_;
  void* data_;
};

class CpuDevice final : public backend::Device {
 public:
  CpuDevice(int threads, const KernelTable& kernels, Precision precision)
      : pool_(threads), kernels_(kernels), precision_(precision) {}

  std::string name() const override { return "cpu"; }
  std::string description() const override {
    return absl::StrCat("cpu ", std::string(IsaName(kernels_.isa)), ", ", pool_.size(),
                        " threads, precision ", std::string(PrecisionName(precision_)));
  }
  int threads() const override { return pool_.size(); }
  bool SupportsWeightType(GgmlType type) const override { return IsSupportedWeightType(type); }
  bool SupportsHeadSize(int64_t head_size) const override { return head_size > 0; }

  absl::StatusOr<backend::WeightView> PrepareWeight(const GgufTensorInfo& t) override {
    if (!IsSupportedWeightType(t.type)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", t.name, ": type ",
                                                     std::string(GgmlTypeName(t.type)),
                                                     " is not supported by the cpu backend"));
    }
    backend::WeightView v;
    v.type = t.type;
    v.cols = t.ne[0];
    v.rows = t.ne[1] * t.ne[2] * t.ne[3];
    v.row_bytes = RowBytes(t.type, t.ne[0]);
    v.data = t.data;
    return v;
  }

  absl::StatusOr<std::unique_ptr<backend::Buffer>> Allocate(backend::BufferKind kind,
                                                            uint64_t bytes) override {
    const uint64_t rounded = (bytes + 63) / 64 * 64;
    void* data = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (data == nullptr) {
      return absl::ResourceExhaustedError(absl::StrCat("cpu: cannot allocate ", bytes, " bytes"));
    }
    std::memset(data, 0, rounded == 0 ? 64 : rounded);
    return std::make_unique<CpuBuffer>(kind, bytes, data);
  }

  std::unique_ptr<backend::Stream> CreateStream() override {
    return std::make_unique<CpuStream>(pool_, kernels_, precision_);
  }

 private:
  ThreadPool pool_;
  const KernelTable& kernels_;
  Precision precision_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<backend::Device>> CreateCpuDevice(
    const backend::DeviceOptions& options, std::optional<Isa> isa) {
  const KernelTable* kernels = &BestKernels();
  if (isa.has_value()) {
    kernels = KernelsFor(*isa);
    if (kernels == nullptr || !CpuSupports(*isa)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cpu: kernels for ", std::string(IsaName(*isa)), " are not available on this machine"));
    }
  }
  return std::make_unique<CpuDevice>(options.threads, *kernels, options.precision);
}

}  // namespace rwkv::engine::cpu
