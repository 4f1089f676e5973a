#include <optional>
#include <system_error>

#include "rwkv/engine/checkpoint_converter.h"
#include "rwkv/engine/model_quantizer.h"
#include "services/converter/job_executor.h"
#include "services/converter/quality_eval.h"

namespace rwkv::converter {
namespace {

uint64_t FileSize(const std::filesystem::path& path) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(size);
}

}  // namespace

absl::Status EngineJobExecutor::ValidateParams(const JobSpec& spec) const {
  if (spec.kind != JobKind::kQuantize) return absl::OkStatus();
  return engine::ParseQuantizeTarget(spec.quant_type).status();
}

absl::StatusOr<ExecuteResult> EngineJobExecutor::Execute(const JobSpec& spec, const JobPaths& paths,
                                                         const std::filesystem::path& tmp_output,
                                                         const engine::JobControl& control) {
  ExecuteResult result;
  result.input_bytes = FileSize(paths.input);
  switch (spec.kind) {
    case JobKind::kConvertCheckpoint: {
      engine::ConvertOptions options;
      options.checkpoint_path = paths.input.string();
      options.vocab_path = paths.vocab.string();
      options.output_path = tmp_output.string();
      options.outtype = spec.outtype;
      options.control = control;
      absl::StatusOr<engine::ConvertResult> r = engine::ConvertCheckpoint(options);
      if (!r.ok()) return r.status();
      result.output_bytes = r->output_bytes;
      result.tensor_count = r->tensor_count;
      break;
    }
    case JobKind::kQuantize: {
      // The evaluation text is checked before any output is written.
      std::optional<QualityEval> eval;
      if (!spec.eval_text.empty()) {
        absl::StatusOr<QualityEval> prepared = PrepareQualityEval(spec, paths, threads_per_job_);
        if (!prepared.ok()) return prepared.status();
        eval = std::move(*prepared);
      }
      engine::QuantizeOptions options;
      options.input_path = paths.input.string();
      options.output_path = tmp_output.string();
      options.target = spec.quant_type;
      options.threads = threads_per_job_;
      options.control = control;
      absl::StatusOr<engine::QuantizeResult> r = engine::QuantizeGgufFile(options);
      if (!r.ok()) return r.status();
      result.output_bytes = r->output_bytes;
      result.tensor_count = r->tensor_count;
      if (r->input_bytes != 0) result.input_bytes = r->input_bytes;
      if (eval.has_value()) {
        std::filesystem::path base = tmp_output;
        base += ".kld-base";
        absl::StatusOr<QuantizationQuality> q =
            MeasureQuality(spec, *eval, tmp_output, base, threads_per_job_, control);
        if (!q.ok()) return q.status();
        result.quality = std::move(*q);
      }
      break;
    }
    case JobKind::kConvertState: {
      engine::ConvertStateOptions options;
      options.state_path = paths.input.string();
      options.output_path = tmp_output.string();
      options.control = control;
      absl::StatusOr<engine::ConvertResult> r = engine::ConvertStateCheckpoint(options);
      if (!r.ok()) return r.status();
      result.output_bytes = r->output_bytes;
      result.tensor_count = r->tensor_count;
      break;
    }
  }
  if (result.output_bytes == 0) result.output_bytes = FileSize(tmp_output);
  return result;
}

}  // namespace rwkv::converter
