#include "backend/vulkan/vulkan_device.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "backend/vulkan/vulkan_context.h"
#include "backend/vulkan/vulkan_stream.h"
#include "rwkv/engine/ggml_types.h"

namespace rwkv::engine::vulkan {
namespace {

bool IsKernelType(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return true;
    default:
      return false;
  }
}

class VulkanBuffer final : public backend::Buffer {
 public:
  VulkanBuffer(std::shared_ptr<Context> context, backend::BufferKind kind, uint64_t size,
               DeviceBuffer buffer)
      : context_(std::move(context)), kind_(kind), size_(size), buffer_(buffer) {}
  ~VulkanBuffer() override { context_->DestroyBuffer(buffer_); }

  backend::BufferKind kind() const override { return kind_; }
  uint64_t size() const override { return size_; }
  void* base() override { return reinterpret_cast<void*>(buffer_.address); }
  absl::Status Upload(uint64_t offset, std::span<const uint8_t> bytes) override {
    if (offset + bytes.size() > size_)
      return absl::OutOfRangeError("vulkan buffer: upload past end");
    return context_->Upload(buffer_, offset, bytes);
  }
  absl::Status Download(uint64_t offset, std::span<uint8_t> bytes) const override {
    if (offset + bytes.size() > size_) {
      return absl::OutOfRangeError("vulkan buffer: download past end");
    }
    return context_->Download(buffer_, offset, bytes);
  }

 private:
  std::shared_ptr<Context> context_;
  backend::BufferKind kind_;
  uint64_t size_;
  DeviceBuffer buffer_;
};

class VulkanDevice final : public backend::Device {
 public:
  explicit VulkanDevice(std::shared_ptr<Context> context) : context_(std::move(context)) {}
  ~VulkanDevice() override {
    for (DeviceBuffer& b : weights_) context_->DestroyBuffer(b);
  }

  std::string name() const override { return "vulkan"; }
  std::string description() const override {
    const PhysicalDeviceInfo& info = context_->info();
    return absl::StrCat("vulkan ", info.index, ": ", info.name, " (kernels use ",
                        info.features.KernelFeatures(), ")");
  }
  int threads() const override { return 1; }
  bool SupportsWeightType(GgmlType type) const override { return IsKernelType(type); }
  bool SupportsHeadSize(int64_t head_size) const override { return head_size > 0; }

  absl::StatusOr<backend::WeightView> PrepareWeight(const GgufTensorInfo& t) override {
    if (!IsKernelType(t.type)) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", t.name, ": type ",
                                                     std::string(GgmlTypeName(t.type)),
                                                     " is not supported by the vulkan backend"));
    }
    absl::StatusOr<DeviceBuffer> b = context_->CreateBuffer(t.size_bytes, MemoryUse::kDevice);
    if (!b.ok()) return b.status();
    weights_.push_back(*b);
    if (absl::Status s = context_->Upload(*b, 0, std::span(t.data, t.size_bytes)); !s.ok()) {
      return s;
    }
    backend::WeightView v;
    v.type = t.type;
    v.cols = t.ne[0];
    v.rows = t.ne[1] * t.ne[2] * t.ne[3];
    v.row_bytes = RowBytes(t.type, t.ne[0]);
    v.data = reinterpret_cast<const void*>(b->address);
    return v;
  }

  absl::StatusOr<std::unique_ptr<backend::Buffer>> Allocate(backend::BufferKind kind,
                                                            uint64_t bytes) override {
    absl::StatusOr<DeviceBuffer> b = context_->CreateBuffer(bytes, MemoryUse::kDevice);
    if (!b.ok()) return b.status();
    auto buffer = std::make_unique<VulkanBuffer>(context_, kind, bytes, *b);
    if (absl::Status s = context_->Fill(*b, 0); !s.ok()) return s;
    return buffer;
  }

  std::unique_ptr<backend::Stream> CreateStream() override {
    return std::make_unique<VulkanStream>(context_);
  }

 private:
  std::shared_ptr<Context> context_;
  std::vector<DeviceBuffer> weights_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<backend::Device>> CreateVulkanDevice(
    const backend::DeviceOptions& options) {
  absl::StatusOr<std::shared_ptr<Context>> context = Context::Create(options.device);
  if (!context.ok()) return context.status();
  return std::make_unique<VulkanDevice>(std::move(*context));
}

absl::StatusOr<std::vector<std::string>> DescribeVulkanDevices() {
  absl::StatusOr<std::vector<PhysicalDeviceInfo>> devices = ListPhysicalDevices();
  if (!devices.ok()) return devices.status();
  std::vector<std::string> lines;
  for (const PhysicalDeviceInfo& d : *devices) {
    const std::string missing = d.features.MissingRequirement();
    lines.push_back(absl::StrFormat(
        "vulkan %d: %s [%s, %.1f GiB device-local] device: %s; "
        "kernels use: %s%s",
        d.index, d.name, d.type, static_cast<double>(d.device_local_bytes) / (1ull << 30),
        d.features.Summary(), d.features.KernelFeatures(),
        missing.empty() ? "" : absl::StrCat(" (unusable: ", missing, ")")));
  }
  return lines;
}

}  // namespace rwkv::engine::vulkan
