// .pth -> GGUF: plan the tensors, then stream each one through GgufWriter (read as f32,
// transform, rescale, cast), so that only one tensor is in memory at a time.
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "convert/convert_internal.h"
#include "convert/rwkv6_plan.h"
#include "rwkv/engine/checkpoint_converter.h"
#include "rwkv/engine/fp16.h"
#include "rwkv/engine/pth_reader.h"
#include "rwkv/engine/quant.h"

namespace rwkv::engine {
namespace convert {
namespace {

// Reads the planned tensor's sources and applies its transform and scale, in f32.
absl::Status Materialise(const PthCheckpoint& ckpt, const PlannedTensor& p,
                         std::vector<float>* out) {
  std::vector<float> src(p.numel());
  if (p.transform == Transform::kStack) {
    const uint64_t part = src.size() / p.sources.size();
    for (size_t i = 0; i < p.sources.size(); ++i) {
      absl::Status s =
          ckpt.ReadAsFloat32(*p.sources[i], std::span<float>(src).subspan(i * part, part));
      if (!s.ok()) return s;
    }
  } else {
    if (absl::Status s = ckpt.ReadAsFloat32(*p.sources[0], src); !s.ok()) return s;
  }
  const std::vector<int64_t>& shape = p.sources[0]->shape;
  switch (p.transform) {
    case Transform::kAsIs:
    case Transform::kStack:
      *out = std::move(src);
      break;
    case Transform::kTranspose: {
      const int64_t a = shape[0], b = shape[1];
      out->resize(src.size());
      for (int64_t i = 0; i < a; ++i) {
        for (int64_t j = 0; j < b; ++j) (*out)[j * a + i] = src[i * b + j];
      }
      break;
    }
    case Transform::kSwapLast2: {
      const int64_t a = shape[0], b = shape[1], c = shape[2];
      out->resize(src.size());
      for (int64_t x = 0; x < a; ++x) {
        for (int64_t j = 0; j < b; ++j) {
          for (int64_t k = 0; k < c; ++k) (*out)[(x * c + k) * b + j] = src[(x * b + j) * c + k];
        }
      }
      break;
    }
  }
  if (p.scale != 1.0f) {
    for (float& v : *out) v *= p.scale;
  }
  return absl::OkStatus();
}

absl::Status Encode(const std::vector<float>& v, GgmlType type, int64_t row,
                    std::span<uint8_t> out) {
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(out.data(), v.data(), v.size() * 4);
      return absl::OkStatus();
    case GgmlType::kF16:
      for (size_t i = 0; i < v.size(); ++i) {
        const uint16_t h = Fp32ToFp16(v[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
      }
      return absl::OkStatus();
    case GgmlType::kBF16:
      for (size_t i = 0; i < v.size(); ++i) {
        const uint16_t h = Fp32ToBf16(v[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
      }
      return absl::OkStatus();
    default: {
      const uint64_t row_bytes = RowBytes(type, row);
      for (uint64_t r = 0; r < v.size() / row; ++r) {
        absl::Status s = QuantizeRow(type, v.data() + r * row, out.data() + r * row_bytes, row);
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    }
  }
}

GgmlType TensorType(const PlannedTensor& p, GgmlType ftype) {
  if (!p.projection) return GgmlType::kF32;
  const int64_t block = GetGgmlTypeInfo(ftype).block_size;
  // llama.cpp's converter falls back to F16 when a row is not a whole number of blocks.
  return p.ne[0] % block == 0 ? ftype : GgmlType::kF16;
}

}  // namespace

absl::StatusOr<ConvertResult> ConvertCheckpointWithConfig(const ConvertOptions& options,
                                                          const CheckpointConvertConfig& config) {
  const auto start = std::chrono::steady_clock::now();
  auto out_type = ParseOutType(options.outtype);
  if (!out_type.ok()) return out_type.status();
  if (options.output_path.empty()) return absl::InvalidArgumentError("no output path given");
  auto ckpt = PthCheckpoint::Open(options.checkpoint_path);
  if (!ckpt.ok()) return ckpt.status();
  auto plan = PlanRwkv6Conversion(**ckpt, config.rescale_every_n_layers);
  if (!plan.ok()) return plan.status();

  uint64_t n_params = 0;
  for (const PlannedTensor& p : plan->tensors) n_params += p.numel();
  GgufWriter writer;
  const std::string name =
      config.model_name.empty() ? ModelNameFromPath(options.checkpoint_path) : config.model_name;
  if (absl::Status s = AddRwkv6Metadata(writer, plan->hparams, *out_type, options.vocab_path, name,
                                        n_params, config.rescale_every_n_layers);
      !s.ok()) {
    return s;
  }
  const PthCheckpoint& source = **ckpt;
  const JobControl& control = options.control;
  for (const PlannedTensor& p : plan->tensors) {
    const GgmlType type = TensorType(p, out_type->type);
    absl::Status s = writer.AddTensor(
        p.name, type, p.ne, [&source, &p, &control, type](std::span<uint8_t> out) -> absl::Status {
          if (control.cancelled()) return absl::CancelledError("conversion cancelled");
          std::vector<float> values;
          if (absl::Status st = Materialise(source, p, &values); !st.ok()) return st;
          return Encode(values, type, p.ne[0], out);
        });
    if (!s.ok()) return s;
  }
  writer.set_progress([&control](size_t done, size_t total, uint64_t bytes, uint64_t bytes_total) {
    control.Report({done, total, bytes, bytes_total});
  });
  if (control.cancelled()) return absl::CancelledError("conversion cancelled");
  if (absl::Status s = writer.WriteFile(options.output_path); !s.ok()) {
    if (s.code() == absl::StatusCode::kCancelled)
      return absl::CancelledError("conversion cancelled");
    return s;
  }
  ConvertResult result;
  std::error_code ec;
  result.output_bytes = std::filesystem::file_size(options.output_path, ec);
  result.tensor_count = plan->tensors.size();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace convert

absl::StatusOr<ConvertResult> ConvertCheckpoint(const ConvertOptions& options) {
  return convert::ConvertCheckpointWithConfig(options, convert::CheckpointConvertConfig{});
}

}  // namespace rwkv::engine
