// Domain types of rwkv-converter jobs. Proto types stop at jobs_service; everything below it
// (store, runner, journal) speaks these.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace rwkv::converter {

enum class JobKind { kConvertCheckpoint, kQuantize, kConvertState };
enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };

// Stable lowercase names used in the journal, the manifest and metric labels:
// "convert_checkpoint", "quantize", "convert_state"; "queued", "running", "succeeded",
// "failed", "cancelled".
absl::string_view KindName(JobKind kind);
absl::string_view StateName(JobState state);
std::optional<JobKind> ParseKindName(absl::string_view name);
std::optional<JobState> ParseStateName(absl::string_view name);
bool IsTerminal(JobState state);

// What a client asked for; names are relative to the storage root (see jobs.proto).
struct JobSpec {
  JobKind kind = JobKind::kConvertCheckpoint;
  std::string input;
  std::string output;
  std::string vocab;       // convert checkpoint only
  std::string outtype;     // convert checkpoint only: f32 | f16 | bf16
  std::string quant_type;  // quantize only
  bool overwrite = false;
  std::string eval_text;     // quantize only: text to measure quality on ("" = none)
  uint32_t eval_ctx = 0;     // tokens per chunk; 0 = kDefaultEvalCtx
  uint32_t eval_chunks = 0;  // at most this many chunks; 0 = all
};

// Quality of a quantized model measured on JobSpec.eval_text (see jobs.proto).
struct QuantizationQuality {
  std::string eval_text;
  uint32_t ctx = 0;
  uint32_t chunks = 0;
  uint64_t tokens_scored = 0;
  double ppl_source = 0, ppl_source_error = 0;
  double ppl_result = 0, ppl_result_error = 0;
  double mean_kld = 0, mean_kld_error = 0;
  double kld_p99 = 0;
  double same_top_fraction = 0;
};

struct JobProgress {
  uint64_t tensors_done = 0;
  uint64_t tensors_total = 0;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  double eta_seconds = -1;  // < 0: unknown
};

struct Artifact {
  std::string path;  // e.g. "models/x.gguf"
  uint64_t size_bytes = 0;
  std::string sha256;         // lowercase hex
  std::string manifest_path;  // path + ".manifest.json"
  uint64_t tensor_count = 0;
  uint64_t input_bytes = 0;
  std::optional<QuantizationQuality> quality;  // quantize jobs with eval_text
};

struct Job {
  std::string id;
  JobSpec spec;
  JobState state = JobState::kQueued;
  JobProgress progress;
  std::string error;
  absl::StatusCode error_code = absl::StatusCode::kOk;
  bool cancel_requested = false;
  uint32_t attempts = 0;  // times started (see Job.attempts in jobs.proto)
  absl::Time created_at = absl::InfinitePast();
  absl::Time started_at = absl::InfinitePast();   // InfinitePast: not started
  absl::Time finished_at = absl::InfinitePast();  // InfinitePast: not finished
  std::optional<Artifact> artifact;               // set when succeeded
};

// "j-" + 16 random lowercase hex digits.
std::string NewJobId();

}  // namespace rwkv::converter
