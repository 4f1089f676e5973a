#include "rwkv/engine/model_quantizer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <span>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "quant/parallel_for.h"
#include "quant/tensor_selection.h"
#include "rwkv/engine/gguf.h"
#include "rwkv/engine/quant.h"

namespace rwkv::engine {
namespace {

constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION
constexpr float kF16Max = 65504.0f;

bool IsFloatType(GgmlType t) {
  return t == GgmlType::kF32 || t == GgmlType::kF16 || t == GgmlType::kBF16;
}

// Rows of about this many elements per work item keep threads busy without much overhead.
constexpr int64_t kElementsPerChunk = 1 << 16;

// Converts one tensor row by row into `out`. Rejects non-finite values (llama-quantize
// validates its output the same way) and values an F16 output cannot hold.
absl::Status ConvertTensor(const std::string& path, const GgufTensorInfo& in,
                           const TensorQuantPlan& plan, std::span<uint8_t> out, int threads,
                           const JobControl& control) {
  if (out.size() != plan.output_bytes) {
    return absl::InternalError(absl::StrCat(path, ": tensor ", in.name, " expects ",
                                            plan.output_bytes, " bytes, writer gave ", out.size()));
  }
  if (plan.input_type == plan.output_type) {
    if (plan.output_bytes > 0) std::memcpy(out.data(), in.data, plan.output_bytes);
    return absl::OkStatus();
  }
  const int64_t ne0 = in.ne[0];
  if (ne0 <= 0) return absl::OkStatus();
  const int64_t rows = in.n_elements() / ne0;
  const uint64_t in_row = RowBytes(plan.input_type, ne0);
  const uint64_t out_row = RowBytes(plan.output_type, ne0);
  auto convert = [&](int64_t begin, int64_t end) -> absl::Status {
    std::vector<float> row(static_cast<size_t>(ne0));
    for (int64_t r = begin; r < end; ++r) {
      absl::Status s = DequantizeRow(plan.input_type, in.data + r * in_row, row.data(), ne0);
      if (!s.ok()) return s;
      for (float v : row) {
        if (!std::isfinite(v) || (plan.output_type == GgmlType::kF16 && std::fabs(v) > kF16Max)) {
          return absl::InvalidArgumentError(
              absl::StrCat(path, ": tensor ", in.name, " row ", r, " holds ", v, ", which ",
                           std::string(GgmlTypeName(plan.output_type)), " cannot represent"));
        }
      }
      s = QuantizeRow(plan.output_type, row.data(), out.data() + r * out_row, ne0);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  };
  return quant::ParallelFor(
      rows, std::max<int64_t>(1, kElementsPerChunk / ne0), threads, convert,
      [&control] { return control.cancelled(); },
      absl::CancelledError(absl::StrCat("quantization of ", path, " cancelled")));
}

}  // namespace

absl::StatusOr<std::vector<TensorQuantPlan>> PlanQuantization(const GgufFile& file,
                                                              const QuantizeTarget& target) {
  std::vector<TensorQuantPlan> plans;
  plans.reserve(file.tensors().size());
  for (const GgufTensorInfo& t : file.tensors()) {
    if (!IsFloatType(t.type)) {
      const auto info = GetGgmlTypeInfo(static_cast<uint32_t>(t.type));
      return absl::InvalidArgumentError(absl::StrCat(
          file.path(), ": tensor ", t.name, " is ",
          info.has_value() ? std::string(info->name) : std::string("of an unknown type"),
          "; the input must hold only F32, F16 or BF16 tensors (requantizing is not supported)"));
    }
    TensorQuantPlan p;
    p.name = t.name;
    p.input_type = t.type;
    const uint32_t dims = t.effective_dims();
    p.ne.assign(t.ne.begin(), t.ne.begin() + dims);
    p.output_type = t.type;
    if (quant::IsQuantizableTensor(t.name, dims)) {
      p.output_type = quant::ChooseTensorType(t.name, t.ne[0], target.default_type);
    }
    p.input_bytes = t.size_bytes;
    absl::StatusOr<uint64_t> bytes = TensorBytes(p.output_type, p.ne);
    if (!bytes.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file.path(), ": tensor ", t.name, ": ", bytes.status().message()));
    }
    p.output_bytes = *bytes;
    plans.push_back(std::move(p));
  }
  std::sort(plans.begin(), plans.end(), [](const TensorQuantPlan& a, const TensorQuantPlan& b) {
    return quant::TensorOutputLess(a.name, b.name);
  });
  return plans;
}

absl::StatusOr<QuantizeResult> QuantizeGgufFile(const QuantizeOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<QuantizeTarget> target = ParseQuantizeTarget(options.target);
  if (!target.ok()) return target.status();
  if (options.output_path.empty()) return absl::InvalidArgumentError("no output path given");
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(options.input_path);
  if (!file.ok()) return file.status();
  const GgufFile& in = **file;
  absl::StatusOr<std::vector<TensorQuantPlan>> plans = PlanQuantization(in, *target);
  if (!plans.ok()) return plans.status();

  GgufWriter writer;
  writer.set_alignment(in.alignment());
  for (const GgufKv& kv : in.kvs()) {
    if (kv.key == "general.quantization_version" || kv.key == "general.file_type" ||
        absl::StartsWith(kv.key, "split.")) {
      continue;
    }
    writer.AddKv(kv.key, kv.value);
  }
  writer.AddKv("general.quantization_version", GgufValue::Uint32(kQuantizationVersion));
  writer.AddKv("general.file_type", GgufValue::Uint32(target->file_type));

  const int threads = options.threads > 0
                          ? options.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  JobProgress progress;
  progress.tensors_total = plans->size();
  for (const TensorQuantPlan& p : *plans) progress.bytes_total += p.output_bytes;

  for (size_t i = 0; i < plans->size(); ++i) {
    const TensorQuantPlan& plan = (*plans)[i];
    const GgufTensorInfo* info = in.FindTensor(plan.name);
    if (info == nullptr) {
      return absl::InternalError(absl::StrCat(in.path(), ": tensor ", plan.name, " vanished"));
    }
    absl::Status added = writer.AddTensor(
        plan.name, plan.output_type, plan.ne, [&, info, i](std::span<uint8_t> out) -> absl::Status {
          if (options.control.cancelled()) {
            return absl::CancelledError(
                absl::StrCat("quantization of ", options.input_path, " cancelled"));
          }
          const TensorQuantPlan& p = (*plans)[i];
          absl::Status s = ConvertTensor(in.path(), *info, p, out, threads, options.control);
          if (!s.ok()) return s;
          progress.tensors_done = i + 1;
          progress.bytes_done += p.output_bytes;
          options.control.Report(progress);
          return absl::OkStatus();
        });
    if (!added.ok()) return added;
  }
  if (absl::Status s = writer.WriteFile(options.output_path); !s.ok()) return s;

  QuantizeResult result;
  result.input_bytes = in.file_size();
  std::error_code ec;
  result.output_bytes = std::filesystem::file_size(options.output_path, ec);
  if (ec) result.output_bytes = 0;
  result.tensor_count = plans->size();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace rwkv::engine
