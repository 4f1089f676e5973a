// Every Prometheus metric of rwkv-converter (catalogue: docs/metrics.md). Registered once
// against an injected registry; children for every bounded label value are created up front
// and kept, so the hot path never looks anything up. Thread-safe.
#pragma once

#include <array>

#include "absl/strings/string_view.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "services/converter/job.h"

namespace rwkv::converter {

class ConverterMetrics {
 public:
  explicit ConverterMetrics(prometheus::Registry& registry);

  // rwkv_converter_jobs_total{kind,state}: a job entered `state`.
  void JobEntered(JobKind kind, JobState state);
  // rwkv_converter_job_duration_seconds{kind,state} and rwkv_converter_written_bytes_total.
  void JobFinished(JobKind kind, JobState state, double run_seconds, uint64_t bytes_written);
  // rwkv_converter_job_queue_wait_seconds{kind}.
  void JobStarted(JobKind kind, double queue_seconds);
  // rwkv_converter_rejected_submissions_total{reason}; reason in queue_full, invalid, draining.
  void SubmissionRejected(absl::string_view reason);
  void SetQueued(size_t n) { queued_.Set(static_cast<double>(n)); }
  void SetRunning(size_t n) { running_.Set(static_cast<double>(n)); }

 private:
  static constexpr size_t kKinds = 3;
  static constexpr size_t kStates = 5;

  std::array<std::array<prometheus::Counter*, kStates>, kKinds> jobs_{};
  std::array<std::array<prometheus::Histogram*, kStates>, kKinds> duration_{};
  std::array<prometheus::Histogram*, kKinds> queue_wait_{};
  std::array<prometheus::Counter*, kKinds> written_bytes_{};
  prometheus::Counter* rejected_queue_full_;
  prometheus::Counter* rejected_invalid_;
  prometheus::Counter* rejected_draining_;
  prometheus::Gauge& queued_;
  prometheus::Gauge& running_;
};

}  // namespace rwkv::converter
