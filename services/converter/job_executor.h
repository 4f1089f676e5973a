// The seam between the job runner and the code that actually writes artifacts. The real
// implementation (EngineJobExecutor) calls the engine; tests use a fake.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

#include "absl/status/statusor.h"
#include "rwkv/engine/progress.h"
#include "services/converter/job.h"
#include "services/converter/job_spec.h"

namespace rwkv::converter {

struct ExecuteResult {
  uint64_t input_bytes = 0;
  uint64_t output_bytes = 0;
  uint64_t tensor_count = 0;
  std::optional<QuantizationQuality> quality;  // quantize jobs with eval_text
};

class JobExecutor {
 public:
  virtual ~JobExecutor() = default;

  // Checks the parameters whose valid values the engine decides (e.g. quant type names).
  // InvalidArgument naming the parameter. Must not touch files. Thread-safe.
  virtual absl::Status ValidateParams(const JobSpec& spec) const = 0;

  // Writes the artifact of `spec` to `tmp_output` (a fresh path under .tmp/), reporting
  // progress through `control` and polling its cancel flag. Returns Cancelled when cancelled,
  // InvalidArgument for a bad input file, other codes for I/O problems. On failure the
  // runner removes whatever is left at tmp_output. Called concurrently from worker threads.
  virtual absl::StatusOr<ExecuteResult> Execute(const JobSpec& spec, const JobPaths& paths,
                                                const std::filesystem::path& tmp_output,
                                                const engine::JobControl& control) = 0;
};

// Runs jobs with engine::ConvertCheckpoint / QuantizeGgufFile / ConvertStateCheckpoint.
class EngineJobExecutor final : public JobExecutor {
 public:
  // `threads_per_job`: quantization threads per job, 0 = hardware concurrency.
  explicit EngineJobExecutor(int threads_per_job) : threads_per_job_(threads_per_job) {}

  absl::Status ValidateParams(const JobSpec& spec) const override;
  absl::StatusOr<ExecuteResult> Execute(const JobSpec& spec, const JobPaths& paths,
                                        const std::filesystem::path& tmp_output,
                                        const engine::JobControl& control) override;

 private:
  int threads_per_job_;
};

}  // namespace rwkv::converter
